/* Validation of listener and rule actions and rule conditions, apart from
 * the code that stores them. Both are normalised into the shape Describe
 * answers (and the data plane will read): actions carry Order, forward
 * actions both TargetGroupArn (one group) and ForwardConfig, conditions
 * both Values and their *Config where AWS answers both. */
#include "elb/elb-internal.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int forward_check(struct api_ctx *ctx, const struct elb_lb *lb, const json_t *a,
                         json_t *norm, json_t *tgs, struct error **err)
{
    const char *single = json_get_str(a, "TargetGroupArn");
    const json_t *fc = json_get_object(a, "ForwardConfig");
    const json_t *list = json_get_array(fc, "TargetGroups");
    _cleanup_json_ json_t *tuples = json_array();
    if (single && json_array_size(list) > 1)
        return error_set(err, EINVAL, ELB_VALIDATION,
                         "You cannot specify both a target group ARN and a forward config with "
                         "more than one target group");
    if (single && json_array_size(list) == 1 &&
        strcmp(single, json_get_str(json_array_get(list, 0), "TargetGroupArn") ?: "") != 0)
        return error_set(err, EINVAL, ELB_VALIDATION,
                         "The target group ARN and the forward config name different groups");
    if (json_array_size(list)) {
        size_t i;
        json_t *t;
        json_array_foreach(list, i, t)
        {
            json_int_t w = json_get_int(t, "Weight", 1);
            if (!json_get_str(t, "TargetGroupArn"))
                return error_set(err, EINVAL, ELB_VALIDATION,
                                 "Each target group of a forward config needs a TargetGroupArn");
            if (w < 0 || w > 999)
                return error_set(err, EINVAL, ELB_VALIDATION,
                                 "Target group weights must be between 0 and 999");
            json_array_append_new(tuples,
                                  json_pack("{s:s, s:I}", "TargetGroupArn",
                                            json_get_str(t, "TargetGroupArn"), "Weight", w));
        }
    } else if (single) {
        json_array_append_new(tuples,
                              json_pack("{s:s, s:i}", "TargetGroupArn", single, "Weight", 1));
    } else {
        return error_set(err, EINVAL, ELB_VALIDATION,
                         "A forward action needs a target group ARN or a forward config");
    }
    if (json_array_size(tuples) > ELB_MAX_FORWARD_TGS)
        return error_set(err, EINVAL, "TooManyTargetGroups",
                         "A forward action can name at most %d target groups", ELB_MAX_FORWARD_TGS);
    if (!strcmp(lb->type, "network") && json_array_size(tuples) > 1)
        return error_set(err, EINVAL, ELB_INVALID_ACTION,
                         "A network load balancer forwards to one target group");
    size_t i, j;
    json_t *t, *u;
    json_array_foreach(tuples, i, t)
    {
        const char *arn = json_get_str(t, "TargetGroupArn");
        json_array_foreach(tuples, j, u) if (j < i && !strcmp(json_get_str(u, "TargetGroupArn"),
                                                              arn)) return error_set(err, EINVAL,
                                                                                     ELB_VALIDATION,
                                                                                     "Target group "
                                                                                     "'%.300s' is "
                                                                                     "named twice",
                                                                                     arn);
        struct elb_tg tg;
        int r = elb_tg_find(ctx, arn, &tg, err);
        if (r < 0)
            return r;
        const char *want = !strcmp(lb->type, "application") ? "HTTP" : "TCP";
        if (strcmp(tg.protocol, want) != 0)
            return error_set(err, EINVAL, "IncompatibleProtocols",
                             "Target group '%s' has protocol %s; %s load balancers forward to %s "
                             "target groups",
                             tg.name, tg.protocol, lb->type, want);
        if (strcmp(tg.vpc_id, lb->vpc_id) != 0)
            return error_set(err, EINVAL, ELB_VALIDATION,
                             "Target group '%s' is in VPC '%s', not in the load balancer's VPC "
                             "'%s'",
                             tg.name, tg.vpc_id, lb->vpc_id);
        json_array_append_new(tgs, json_string(arn));
    }
    const json_t *sticky = json_get_object(fc, "TargetGroupStickinessConfig");
    bool sticky_on = json_get_bool(sticky, "Enabled", false);
    json_int_t duration = json_get_int(sticky, "DurationSeconds", 0);
    if (sticky_on && (duration < 1 || duration > 604800))
        return error_set(err, EINVAL, ELB_VALIDATION,
                         "Target group stickiness duration must be between 1 and 604800 seconds");
    json_t *stick = json_pack("{s:b}", "Enabled", sticky_on);
    if (sticky_on)
        json_object_set_new(stick, "DurationSeconds", json_integer(duration));
    if (json_array_size(tuples) == 1)
        json_object_set(norm, "TargetGroupArn",
                        json_object_get(json_array_get(tuples, 0), "TargetGroupArn"));
    json_object_set_new(
        norm, "ForwardConfig",
        json_pack("{s:O, s:o}", "TargetGroups", tuples, "TargetGroupStickinessConfig", stick));
    return 0;
}

static int fixed_response_check(const json_t *a, json_t *norm, struct error **err)
{
    const json_t *c = json_get_object(a, "FixedResponseConfig");
    const char *code = json_get_str(c, "StatusCode");
    const char *type = json_get_str(c, "ContentType");
    const char *body = json_get_str(c, "MessageBody");
    if (!code || strlen(code) != 3 || !strchr("245", code[0]) || !isdigit((unsigned char)code[1]) ||
        !isdigit((unsigned char)code[2]))
        return error_set(err, EINVAL, ELB_VALIDATION,
                         "A fixed response needs a StatusCode of 2XX, 4XX or 5XX");
    static const char *const types[] = {"text/plain", "text/css", "text/html",
                                        "application/javascript", "application/json"};
    bool ok = !type;
    for (size_t i = 0; !ok && i < ARRAY_SIZE(types); i++)
        ok = !strcmp(type, types[i]);
    if (!ok)
        return error_set(err, EINVAL, ELB_VALIDATION, "Content type '%.64s' is not supported",
                         type);
    if (body && strlen(body) > 1024)
        return error_set(err, EINVAL, ELB_VALIDATION,
                         "A fixed response body can be at most 1024 characters long");
    json_t *out = json_pack("{s:s}", "StatusCode", code);
    if (type)
        json_object_set_new(out, "ContentType", json_string(type));
    if (body)
        json_object_set_new(out, "MessageBody", json_string(body));
    json_object_set_new(norm, "FixedResponseConfig", out);
    return 0;
}

static int redirect_check(const json_t *a, json_t *norm, struct error **err)
{
    const json_t *c = json_get_object(a, "RedirectConfig");
    const char *code = json_get_str(c, "StatusCode");
    if (!code || (strcmp(code, "HTTP_301") != 0 && strcmp(code, "HTTP_302") != 0))
        return error_set(err, EINVAL, ELB_VALIDATION,
                         "A redirect needs a StatusCode of HTTP_301 or HTTP_302");
    static const struct {
        const char *key, *dflt;
    } parts[] = {{"Protocol", "#{protocol}"},
                 {"Port", "#{port}"},
                 {"Host", "#{host}"},
                 {"Path", "/#{path}"},
                 {"Query", "#{query}"}};
    json_t *out = json_pack("{s:s}", "StatusCode", code);
    json_object_set_new(norm, "RedirectConfig", out);
    bool changed = false;
    for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
        const char *v = json_get_str(c, parts[i].key);
        if (!v)
            v = parts[i].dflt;
        if (strlen(v) > 128)
            return error_set(err, EINVAL, ELB_VALIDATION, "Redirect %s is too long", parts[i].key);
        changed |= strcmp(v, parts[i].dflt) != 0;
        json_object_set_new(out, parts[i].key, json_string(v));
    }
    const char *proto = json_get_str(out, "Protocol");
    if (strcmp(proto, "#{protocol}") && strcmp(proto, "HTTP") && strcmp(proto, "HTTPS"))
        return error_set(err, EINVAL, ELB_VALIDATION,
                         "Redirect protocol must be HTTP, HTTPS or #{protocol}");
    const char *port = json_get_str(out, "Port");
    char *end;
    long n = strtol(port, &end, 10);
    if (strcmp(port, "#{port}") && (!*port || *end || n < 1 || n > 65535))
        return error_set(err, EINVAL, ELB_VALIDATION, "Redirect port must be 1-65535 or #{port}");
    if (json_get_str(out, "Path")[0] != '/')
        return error_set(err, EINVAL, ELB_VALIDATION, "Redirect path must start with '/'");
    if (!changed)
        return error_set(err, EINVAL, ELB_INVALID_ACTION,
                         "The redirect would redirect to itself: change at least one of "
                         "protocol, port, host, path or query");
    return 0;
}

int elb_actions_check(struct api_ctx *ctx, const struct elb_lb *lb, const json_t *actions,
                      json_t **ret_actions, json_t **ret_tgs, struct error **err)
{
    size_t n = json_array_size(actions);
    if (n == 0)
        return error_set(err, EINVAL, ELB_VALIDATION, "At least one action must be given");
    if (n > 1)
        return error_set(err, EINVAL, "TooManyActions",
                         "Only one action is supported: authenticate actions need identity "
                         "providers skiff does not run");
    _cleanup_json_ json_t *out = json_array(), *tgs = json_array();
    const json_t *a = json_array_get(actions, 0);
    const char *type = json_get_str(a, "Type");
    json_int_t order = json_get_int(a, "Order", 1);
    if (order < 1 || order > 50000)
        return error_set(err, EINVAL, ELB_VALIDATION, "Action order must be between 1 and 50000");
    json_t *norm = json_pack("{s:s, s:I}", "Type", type, "Order", order);
    json_array_append_new(out, norm);
    bool app = !strcmp(lb->type, "application");
    int r;
    if (!strcmp(type, "forward")) {
        r = forward_check(ctx, lb, a, norm, tgs, err);
    } else if (!strcmp(type, "fixed-response") && app) {
        r = fixed_response_check(a, norm, err);
    } else if (!strcmp(type, "redirect") && app) {
        r = redirect_check(a, norm, err);
    } else if (!strncmp(type, "authenticate-", 13)) {
        r = error_set(err, EINVAL, ELB_INVALID_ACTION,
                      "Action type '%s' is not supported: authenticate actions need HTTPS "
                      "listeners and identity providers",
                      type);
    } else {
        r = error_set(err, EINVAL, ELB_INVALID_ACTION,
                      "Action type '%.32s' is not supported by %s load balancers", type, lb->type);
    }
    if (r < 0)
        return r;
    *ret_actions = TAKE_PTR(out);
    *ret_tgs = TAKE_PTR(tgs);
    return 0;
}

/* Characters AWS allows in each kind of condition value ('*' and '?' are
 * wildcards). */
static bool chars_ok(const char *v, const char *extra)
{
    if (!*v || strlen(v) > 128)
        return false;
    for (const char *c = v; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr(extra, *c))
            return false;
    return true;
}

static int values_check(const char *field, const json_t *values, const char *extra, size_t *total,
                        struct error **err)
{
    if (json_array_size(values) == 0)
        return error_set(err, EINVAL, ELB_VALIDATION, "A '%s' condition needs at least one value",
                         field);
    size_t i;
    json_t *v;
    json_array_foreach(values, i, v)
    {
        const char *s = json_string_value(v);
        if (!s || !chars_ok(s, extra))
            return error_set(err, EINVAL, ELB_VALIDATION,
                             "Condition value '%.128s' is not valid for field '%s'", s ? s : "",
                             field);
    }
    *total += json_array_size(values);
    return 0;
}

int elb_conditions_check(const json_t *conditions, json_t **ret, struct error **err)
{
    _cleanup_json_ json_t *out = json_array();
    size_t total = 0;
    size_t i;
    json_t *c;
    bool seen_path = false, seen_host = false, seen_method = false;
    json_array_foreach(conditions, i, c)
    {
        const char *field = json_get_str(c, "Field");
        if (!field)
            return error_set(err, EINVAL, ELB_VALIDATION, "A condition needs a Field");
        const json_t *values = json_get_array(c, "Values");
        int r;
        if (!strcmp(field, "path-pattern") || !strcmp(field, "host-header")) {
            bool path = field[0] == 'p';
            const char *cfg_key = path ? "PathPatternConfig" : "HostHeaderConfig";
            const json_t *cfg_values = json_get_array(json_get_object(c, cfg_key), "Values");
            if (values && cfg_values)
                return error_set(err, EINVAL, ELB_VALIDATION,
                                 "Specify either Values or %s for a '%s' condition", cfg_key,
                                 field);
            if (!values)
                values = cfg_values;
            if ((path ? seen_path : seen_host))
                return error_set(err, EINVAL, ELB_VALIDATION,
                                 "A rule can have only one '%s' condition", field);
            if (path)
                seen_path = true;
            else
                seen_host = true;
            r = values_check(field, values, path ? "_-.$/~\"'@:+&*?;%=" : "-.*?", &total, err);
            if (r < 0)
                return r;
            json_array_append_new(out, json_pack("{s:s, s:O, s:{s:O}}", "Field", field, "Values",
                                                 values, cfg_key, "Values", values));
        } else if (!strcmp(field, "http-header")) {
            const json_t *cfg = json_get_object(c, "HttpHeaderConfig");
            const char *name = json_get_str(cfg, "HttpHeaderName");
            if (!name || !chars_ok(name, "!#$%&'*+-.^_`|~") || strlen(name) > 40)
                return error_set(err, EINVAL, ELB_VALIDATION,
                                 "An 'http-header' condition needs a valid HttpHeaderName");
            if (values)
                return error_set(err, EINVAL, ELB_VALIDATION,
                                 "An 'http-header' condition takes its values in "
                                 "HttpHeaderConfig");
            values = json_get_array(cfg, "Values");
            r = values_check(field, values, " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", &total, err);
            if (r < 0)
                return r;
            json_array_append_new(out, json_pack("{s:s, s:{s:s, s:O}}", "Field", field,
                                                 "HttpHeaderConfig", "HttpHeaderName", name,
                                                 "Values", values));
        } else if (!strcmp(field, "http-request-method")) {
            if (values)
                return error_set(err, EINVAL, ELB_VALIDATION,
                                 "An 'http-request-method' condition takes its values in "
                                 "HttpRequestMethodConfig");
            if (seen_method)
                return error_set(err, EINVAL, ELB_VALIDATION,
                                 "A rule can have only one 'http-request-method' condition");
            seen_method = true;
            values = json_get_array(json_get_object(c, "HttpRequestMethodConfig"), "Values");
            r = values_check(field, values, "-_", &total, err);
            if (r < 0)
                return r;
            size_t j;
            json_t *v;
            json_array_foreach(values, j, v)
            {
                for (const char *p = json_string_value(v); *p; p++)
                    if (islower((unsigned char)*p))
                        return error_set(err, EINVAL, ELB_VALIDATION,
                                         "HTTP request methods are upper case: '%.40s'",
                                         json_string_value(v));
            }
            json_array_append_new(out, json_pack("{s:s, s:{s:O}}", "Field", field,
                                                 "HttpRequestMethodConfig", "Values", values));
        } else {
            return error_set(err, EINVAL, ELB_VALIDATION,
                             "Condition field '%.40s' is not supported: path-pattern, "
                             "host-header, http-header or http-request-method",
                             field);
        }
    }
    if (json_array_size(out) == 0)
        return error_set(err, EINVAL, ELB_VALIDATION, "A rule needs at least one condition");
    if (total > ELB_MAX_COND_VALUES)
        return error_set(err, EINVAL, ELB_VALIDATION, "A rule can only have '%d' condition values",
                         ELB_MAX_COND_VALUES);
    *ret = TAKE_PTR(out);
    return 0;
}
