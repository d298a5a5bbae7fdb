/* Listener rules: CreateRule, DescribeRules, ModifyRule, DeleteRule,
 * SetRulePriorities. Priorities 1-50000 are unique per listener; the
 * default rule (the listener's default actions) sorts last and answers
 * Priority "default" with IsDefault true. Only application load balancers
 * have rules besides the default one. */
#include "elb/elb-internal.h"
#include "api/accounts.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"
#include "store/db.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define RULE_COLUMNS "arn, listener_arn, priority, is_default, conditions, actions"

int elb_rule_insert(struct api_ctx *ctx, const struct elb_listener *l, int priority,
                    bool is_default, const json_t *conditions, const json_t *actions,
                    const json_t *tgs, char **ret_arn, struct error **err)
{
    char id[17];
    elb_id_new(id);
    const char *tail = strstr(l->arn, ":listener/");
    _cleanup_free_ char *arn = xasprintf("%.*s:listener-rule/%s/%s", (int)(tail - l->arn), l->arn,
                                         tail + strlen(":listener/"), id);
    _cleanup_free_ char *cond_s = json_dump_compact(conditions);
    _cleanup_free_ char *act_s = json_dump_compact(actions);
    sqlite3_stmt *st =
        db_stmt(ctx->db,
                "INSERT INTO elb_rules(arn, account, listener_arn, lb_arn, priority, "
                "is_default, conditions, actions, created_at) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, ctx->account->account_id);
    db_bind_text(st, 3, l->arn);
    db_bind_text(st, 4, l->lb.arn);
    sqlite3_bind_int(st, 5, priority);
    sqlite3_bind_int(st, 6, is_default);
    db_bind_text(st, 7, cond_s);
    db_bind_text(st, 8, act_s);
    sqlite3_bind_int64(st, 9, ctx->now_ms);
    int r = db_exec_stmt(ctx->db, st, err);
    if (r < 0 || (r = elb_rule_tgs_set(ctx, arn, l->arn, l->lb.arn, tgs, err)) < 0)
        return r;
    if (ret_arn)
        *ret_arn = TAKE_PTR(arn);
    return 0;
}

int elb_rules_drop(struct api_ctx *ctx, const char *listener_arn, const char *rule_arn,
                   struct error **err)
{
    static const char *const drops[] = {
        ("DELETE FROM elb_tags WHERE arn IN (SELECT arn FROM elb_rules WHERE (?1 IS NULL OR "
         "listener_arn = ?1) AND (?2 IS NULL OR arn = ?2))"),
        ("DELETE FROM elb_rule_tgs WHERE (?1 IS NULL OR listener_arn = ?1) AND (?2 IS NULL OR "
         "rule_arn = ?2)"),
        ("DELETE FROM elb_rules WHERE (?1 IS NULL OR listener_arn = ?1) AND (?2 IS NULL OR "
         "arn = ?2)"),
    };
    if (!listener_arn && !rule_arn)
        return error_set(err, EINVAL, NULL, "elb_rules_drop needs a listener or a rule");
    for (size_t i = 0; i < ARRAY_SIZE(drops); i++) {
        sqlite3_stmt *st = db_stmt(ctx->db, drops[i], err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, listener_arn);
        db_bind_text(st, 2, rule_arn);
        int r = db_exec_stmt(ctx->db, st, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static json_t *rule_doc(sqlite3_stmt *st)
{
    bool is_default = sqlite3_column_int(st, 3);
    char prio[16];
    snprintf(prio, sizeof(prio), "%d", sqlite3_column_int(st, 2));
    return json_pack("{s:s, s:s, s:o, s:o, s:b}", "RuleArn", db_col_text(st, 0), "Priority",
                     is_default ? "default" : prio, "Conditions",
                     json_parse_trusted(db_col_text(st, 4)), "Actions",
                     json_parse_trusted(db_col_text(st, 5)), "IsDefault", is_default);
}

/* The rule arn of the caller's account: its listener (with load balancer)
 * and whether it is the default rule. */
static int rule_find(struct api_ctx *ctx, const char *arn, struct elb_listener *l,
                     bool *ret_default, struct error **err)
{
    sqlite3_stmt *st = db_stmt(
        ctx->db, "SELECT listener_arn, is_default FROM elb_rules WHERE arn = ?1 AND account = ?2",
        err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, arn);
    db_bind_text(st, 2, ctx->account->account_id);
    int rc = sqlite3_step(st);
    _cleanup_free_ char *listener = rc == SQLITE_ROW ? xstrdup(db_col_text(st, 0)) : NULL;
    bool is_default = rc == SQLITE_ROW && sqlite3_column_int(st, 1);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return error_set(err, ENOENT, ELB_RULE_NOT_FOUND, "Rule '%.300s' not found", arn);
    if (rc != SQLITE_ROW)
        return db_fail(ctx->db, err, "read rule");
    *ret_default = is_default;
    return elb_listener_find(ctx, listener, l, err);
}

static int priority_free(struct api_ctx *ctx, const char *listener_arn, int priority,
                         struct error **err)
{
    sqlite3_stmt *st =
        db_stmt(ctx->db, "SELECT 1 FROM elb_rules WHERE listener_arn = ?1 AND priority = ?2", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, listener_arn);
    sqlite3_bind_int(st, 2, priority);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return error_set(err, EEXIST, "PriorityInUse", "Priority '%d' is currently in use",
                         priority);
    return rc == SQLITE_DONE ? 0 : db_fail(ctx->db, err, "read rules");
}

static int rules_answer(struct api_ctx *ctx, const json_t *arns, json_t **ret_out,
                        struct error **err)
{
    json_t *rules = json_array();
    size_t i;
    json_t *a;
    json_array_foreach(arns, i, a)
    {
        sqlite3_stmt *st =
            db_stmt(ctx->db, "SELECT " RULE_COLUMNS " FROM elb_rules WHERE arn = ?1", err);
        if (!st) {
            json_decref(rules);
            return -EIO;
        }
        db_bind_text(st, 1, json_string_value(a));
        if (sqlite3_step(st) == SQLITE_ROW)
            json_array_append_new(rules, rule_doc(st));
        sqlite3_reset(st);
    }
    *ret_out = json_pack("{s:o}", "Rules", rules);
    return 0;
}

static int rules_allowed(const struct elb_listener *l, struct error **err)
{
    if (strcmp(l->lb.type, "application") != 0)
        return error_set(err, EINVAL, ELB_VALIDATION,
                         "Rules are supported only on listeners of application load balancers");
    return 0;
}

int elb_create_rule(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    const json_t *tags = json_get_array(in, "Tags");
    json_int_t priority = json_get_int(in, "Priority", 0);
    if (priority < 1 || priority > 50000)
        return error_set(err, EINVAL, ELB_VALIDATION, "Priority must be between 1 and 50000");
    _cleanup_json_ json_t *conditions = NULL, *actions = NULL, *tgs = NULL;
    int r = elb_tags_check(tags, err);
    if (r < 0 ||
        (r = elb_conditions_check(json_get_array(in, "Conditions"), &conditions, err)) < 0 ||
        (r = db_begin(ctx->db, err)) < 0)
        return r;
    struct elb_listener l;
    if ((r = elb_listener_find(ctx, json_get_str(in, "ListenerArn"), &l, err)) < 0 ||
        (r = rules_allowed(&l, err)) < 0 || (r = priority_free(ctx, l.arn, (int)priority, err)) < 0)
        return r;
    sqlite3_stmt *st = db_stmt(
        ctx->db, "SELECT COUNT(*) FROM elb_rules WHERE lb_arn = ?1 AND NOT is_default", err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, l.lb_arn);
    int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_reset(st);
    if (n >= ELB_MAX_RULES)
        return error_set(err, EINVAL, "TooManyRules", "A load balancer can have at most %d rules",
                         ELB_MAX_RULES);
    if ((r = elb_actions_check(ctx, &l.lb, json_get_array(in, "Actions"), &actions, &tgs, err)) < 0)
        return r;
    _cleanup_free_ char *arn = NULL;
    if ((r = elb_rule_insert(ctx, &l, (int)priority, false, conditions, actions, tgs, &arn, err)) <
            0 ||
        (r = elb_tags_put(ctx, arn, tags, err)) < 0 || (r = db_commit(ctx->db, err)) < 0)
        return r;
    _cleanup_json_ json_t *arns = json_pack("[s]", arn);
    return rules_answer(ctx, arns, ret_out, err);
}

static bool list_has(const json_t *list, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) if (!strcmp(json_string_value(v), s)) return true;
    return false;
}

int elb_describe_rules(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    const char *listener = json_get_str(in, "ListenerArn");
    const json_t *arns = json_get_array(in, "RuleArns");
    if (!listener == !json_array_size(arns))
        return error_set(err, EINVAL, ELB_VALIDATION, "Specify either a listener ARN or rule ARNs");
    int r;
    if (listener) {
        struct elb_listener l;
        if ((r = elb_listener_find(ctx, listener, &l, err)) < 0)
            return r;
    }
    sqlite3_stmt *st = db_stmt(ctx->db,
                               "SELECT " RULE_COLUMNS " FROM elb_rules WHERE account = ?1 AND "
                               "(?2 IS NULL OR listener_arn = ?2) ORDER BY listener_arn, priority",
                               err);
    if (!st)
        return -EIO;
    db_bind_text(st, 1, ctx->account->account_id);
    db_bind_text(st, 2, listener);
    _cleanup_json_ json_t *items = json_array();
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (json_array_size(arns) && !list_has(arns, db_col_text(st, 0)))
            continue;
        _cleanup_free_ char *key =
            xasprintf("%s/%05d", db_col_text(st, 1), sqlite3_column_int(st, 2));
        json_array_append_new(items, json_pack("{s:s, s:o}", "key", key, "doc", rule_doc(st)));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_fail(ctx->db, err, "read rules");
    if (json_array_size(items) < elb_unique_count(arns))
        return error_set(err, ENOENT, ELB_RULE_NOT_FOUND, "One or more rules not found");
    json_t *out = json_object();
    if ((r = elb_page(in, items, "Rules", out, err)) < 0) {
        json_decref(out);
        return r;
    }
    *ret_out = out;
    return 0;
}

int elb_modify_rule(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    const char *arn = json_get_str(in, "RuleArn");
    const json_t *conds_in = json_get_array(in, "Conditions");
    const json_t *actions_in = json_get_array(in, "Actions");
    int r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    struct elb_listener l;
    bool is_default;
    if ((r = rule_find(ctx, arn, &l, &is_default, err)) < 0)
        return r;
    if (is_default && conds_in)
        return error_set(err, EPERM, ELB_NOT_PERMITTED,
                         "The conditions of a default rule cannot be changed");
    if (conds_in) {
        _cleanup_json_ json_t *conditions = NULL;
        if ((r = elb_conditions_check(conds_in, &conditions, err)) < 0)
            return r;
        _cleanup_free_ char *s = json_dump_compact(conditions);
        sqlite3_stmt *st =
            db_stmt(ctx->db, "UPDATE elb_rules SET conditions = ?2 WHERE arn = ?1", err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, arn);
        db_bind_text(st, 2, s);
        if ((r = db_exec_stmt(ctx->db, st, err)) < 0)
            return r;
    }
    if (actions_in) {
        _cleanup_json_ json_t *actions = NULL, *tgs = NULL;
        if ((r = elb_actions_check(ctx, &l.lb, actions_in, &actions, &tgs, err)) < 0)
            return r;
        _cleanup_free_ char *s = json_dump_compact(actions);
        sqlite3_stmt *st =
            db_stmt(ctx->db, "UPDATE elb_rules SET actions = ?2 WHERE arn = ?1", err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, arn);
        db_bind_text(st, 2, s);
        if ((r = db_exec_stmt(ctx->db, st, err)) < 0 ||
            (r = elb_rule_tgs_set(ctx, arn, l.arn, l.lb_arn, tgs, err)) < 0)
            return r;
    }
    if ((r = db_commit(ctx->db, err)) < 0)
        return r;
    _cleanup_json_ json_t *arns = json_pack("[s]", arn);
    return rules_answer(ctx, arns, ret_out, err);
}

int elb_delete_rule(struct api_ctx *ctx, const json_t *in, json_t **ret_out, struct error **err)
{
    (void)ret_out;
    const char *arn = json_get_str(in, "RuleArn");
    int r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    struct elb_listener l;
    bool is_default;
    if ((r = rule_find(ctx, arn, &l, &is_default, err)) < 0)
        return r;
    if (is_default)
        return error_set(err, EPERM, ELB_NOT_PERMITTED,
                         "A default rule cannot be deleted: delete its listener");
    if ((r = elb_rules_drop(ctx, NULL, arn, err)) < 0)
        return r;
    return db_commit(ctx->db, err);
}

int elb_set_rule_priorities(struct api_ctx *ctx, const json_t *in, json_t **ret_out,
                            struct error **err)
{
    const json_t *list = json_get_array(in, "RulePriorities");
    if (json_array_size(list) == 0)
        return error_set(err, EINVAL, ELB_VALIDATION, "At least one rule priority must be given");
    int r = db_begin(ctx->db, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *listener = NULL;
    _cleanup_json_ json_t *arns = json_array();
    size_t i, j;
    json_t *p, *q;
    json_array_foreach(list, i, p)
    {
        const char *arn = json_get_str(p, "RuleArn");
        json_int_t prio = json_get_int(p, "Priority", 0);
        if (!arn)
            return error_set(err, EINVAL, ELB_VALIDATION, "Each rule priority needs a RuleArn");
        if (prio < 1 || prio > 50000)
            return error_set(err, EINVAL, ELB_VALIDATION, "Priority must be between 1 and 50000");
        json_array_foreach(list, j, q)
        {
            if (j >= i)
                break;
            if (!strcmp(json_get_str(q, "RuleArn") ?: "", arn))
                return error_set(err, EINVAL, ELB_VALIDATION, "Rule '%.300s' is named twice", arn);
            if (json_get_int(q, "Priority", 0) == prio)
                return error_set(err, EEXIST, "PriorityInUse",
                                 "Priority '%d' is given to two rules", (int)prio);
        }
        struct elb_listener l;
        bool is_default;
        if ((r = rule_find(ctx, arn, &l, &is_default, err)) < 0)
            return r;
        if (is_default)
            return error_set(err, EPERM, ELB_NOT_PERMITTED,
                             "The priority of a default rule cannot be changed");
        if (listener && strcmp(listener, l.arn) != 0)
            return error_set(err, EINVAL, ELB_VALIDATION,
                             "All rules must belong to the same listener");
        if (!listener)
            listener = xstrdup(l.arn);
        json_array_append_new(arns, json_string(arn));
        /* Moved out of the way first, so that rules can swap priorities. */
        sqlite3_stmt *st =
            db_stmt(ctx->db, "UPDATE elb_rules SET priority = ?2 WHERE arn = ?1", err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, arn);
        sqlite3_bind_int(st, 2, -(int)(i + 1));
        if ((r = db_exec_stmt(ctx->db, st, err)) < 0)
            return r;
    }
    json_array_foreach(list, i, p)
    {
        int prio = (int)json_get_int(p, "Priority", 0);
        if ((r = priority_free(ctx, listener, prio, err)) < 0)
            return r;
        sqlite3_stmt *st =
            db_stmt(ctx->db, "UPDATE elb_rules SET priority = ?2 WHERE arn = ?1", err);
        if (!st)
            return -EIO;
        db_bind_text(st, 1, json_get_str(p, "RuleArn"));
        sqlite3_bind_int(st, 2, prio);
        if ((r = db_exec_stmt(ctx->db, st, err)) < 0)
            return r;
    }
    if ((r = db_commit(ctx->db, err)) < 0)
        return r;
    return rules_answer(ctx, arns, ret_out, err);
}
