/* The load balancer's JSON configuration (docs/lb.md) → struct lb_config. */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/json.h"
#include "base/xalloc.h"
#include "lb/lb-internal.h"

struct lb_target *lb_target_ref(struct lb_target *t)
{
    atomic_fetch_add(&t->refs, 1);
    return t;
}

void lb_target_unref(struct lb_target *t)
{
    if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
        return;
    free(t->key);
    free(t);
}

int lb_target_socket(const struct lb_target *t, const struct sockaddr_storage *addr)
{
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if ((t->device[0] && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, t->device,
                                    (socklen_t)strlen(t->device)) < 0) ||
        (t->mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &t->mark, sizeof(t->mark)) < 0)) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

bool lb_target_drained(struct lb_target *t, int64_t now_ms)
{
    return atomic_load_explicit(&t->draining, memory_order_relaxed) &&
           now_ms >= atomic_load_explicit(&t->drain_deadline_ms, memory_order_relaxed);
}

struct lb_config *lb_config_ref(struct lb_config *c)
{
    atomic_fetch_add(&c->refs, 1);
    return c;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void action_done(struct lb_action *a)
{
    free(a->groups);
    free(a->content_type);
    free(a->body);
    free(a->protocol);
    free(a->host);
    free(a->port);
    free(a->path);
    free(a->query);
}

void lb_config_unref(struct lb_config *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    for (size_t i = 0; i < c->nlisteners; i++) {
        struct lb_listener *l = &c->listeners[i];
        for (size_t r = 0; r < l->nrules; r++) {
            for (size_t k = 0; k < l->rules[r].nconds; k++) {
                free(l->rules[r].conds[k].header);
                strv_free(l->rules[r].conds[k].values, l->rules[r].conds[k].nvalues);
            }
            free(l->rules[r].conds);
            action_done(&l->rules[r].action);
        }
        free(l->rules);
        action_done(&l->default_action);
        free(l->key);
        free(l->address);
    }
    free(c->listeners);
    for (size_t i = 0; i < c->ngroups; i++) {
        struct lb_target_group *g = &c->groups[i];
        for (size_t t = 0; t < g->ntargets; t++)
            lb_target_unref(g->targets[t]);
        free(g->targets);
        free(g->name);
        free(g->hc.path);
        free(g->hc.matcher);
    }
    free(c->groups);
    free(c->status_file);
    free(c);
}

struct lb_listener *lb_config_listener(struct lb_config *c, const char *key)
{
    for (size_t i = 0; i < c->nlisteners; i++)
        if (strcmp(c->listeners[i].key, key) == 0)
            return &c->listeners[i];
    return NULL;
}

static int parse_proto(const char *s, enum lb_proto *ret)
{
    if (s && strcmp(s, "HTTP") == 0)
        *ret = LB_PROTO_HTTP;
    else if (s && strcmp(s, "TCP") == 0)
        *ret = LB_PROTO_TCP;
    else
        return -1;
    return 0;
}

static int make_addr(const char *ip, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (port <= 0 || port > 65535)
        return -1;
    if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *len = sizeof(*in4);
    } else if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*in6);
    } else {
        return -1;
    }
    return 0;
}

static struct lb_target *registry_get(struct lb_registry *reg, const char *key)
{
    for (size_t i = 0; i < reg->n; i++)
        if (strcmp(reg->t[i]->key, key) == 0)
            return reg->t[i];
    return NULL;
}

static int parse_health(json_t *j, enum lb_proto tg_proto, struct lb_health_check *hc,
                        struct error **err)
{
    hc->enabled = json_get_bool(j, "enabled", true);
    const char *proto = json_get_str(j, "protocol");
    hc->proto = tg_proto;
    if (proto && parse_proto(proto, &hc->proto) < 0)
        return error_set(err, EINVAL, NULL, "health_check.protocol must be HTTP or TCP");
    const char *path = json_get_str(j, "path");
    hc->path = xstrdup(path ? path : "/");
    if (hc->path[0] != '/')
        return error_set(err, EINVAL, NULL, "health_check.path must start with /");
    json_t *port = json_object_get(j, "port");
    hc->port = json_is_integer(port) ? (int)json_integer_value(port) : 0;
    hc->interval_s = (int)json_get_int(j, "interval", 30);
    hc->timeout_s = (int)json_get_int(j, "timeout", 5);
    hc->healthy_threshold = (int)json_get_int(j, "healthy_threshold", 5);
    hc->unhealthy_threshold = (int)json_get_int(j, "unhealthy_threshold", 2);
    const char *m = json_get_str(j, "matcher");
    hc->matcher = xstrdup(m ? m : "200");
    if (hc->interval_s < 1 || hc->timeout_s < 1 || hc->healthy_threshold < 1 ||
        hc->unhealthy_threshold < 1 || hc->port < 0 || hc->port > 65535)
        return error_set(err, EINVAL, NULL,
                         "health_check: interval, timeout and thresholds must be >= 1");
    return 0;
}

static int parse_group(json_t *j, struct lb_registry *reg, struct lb_target_group *g,
                       struct error **err)
{
    const char *name = json_get_str(j, "name");
    if (!name || !*name || strchr(name, '|'))
        return error_set(err, EINVAL, NULL, "a target group needs a name (without '|')");
    g->name = xstrdup(name);
    g->proto = LB_PROTO_HTTP;
    const char *proto = json_get_str(j, "protocol");
    if (proto && parse_proto(proto, &g->proto) < 0)
        return error_set(err, EINVAL, NULL, "target group %s: protocol must be HTTP or TCP", name);
    const char *algo = json_get_str(j, "algorithm");
    if (!algo || strcmp(algo, "round_robin") == 0)
        g->algorithm = LB_ALGO_ROUND_ROBIN;
    else if (strcmp(algo, "least_outstanding_requests") == 0)
        g->algorithm = LB_ALGO_LEAST_OUTSTANDING;
    else
        return error_set(err, EINVAL, NULL, "target group %s: unknown algorithm %s", name, algo);
    g->deregistration_delay_s = (int)json_get_int(j, "deregistration_delay", 300);
    if (g->deregistration_delay_s < 0)
        return error_set(err, EINVAL, NULL, "target group %s: negative deregistration_delay", name);
    json_t *hc = json_get_object(j, "health_check");
    json_t *empty = json_object();
    int r = parse_health(hc ? hc : empty, g->proto, &g->hc, err);
    json_decref(empty);
    if (r < 0)
        return error_wrap(err, "target group %s", name);

    json_t *targets = json_get_array(j, "targets");
    size_t n = targets ? json_array_size(targets) : 0;
    g->targets = xcalloc(n ? n : 1, sizeof(*g->targets));
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(targets, i);
        const char *ip = json_get_str(t, "ip");
        int port = (int)json_get_int(t, "port", 0);
        struct sockaddr_storage ss;
        socklen_t len;
        if (!ip || strlen(ip) >= 64 || make_addr(ip, port, &ss, &len) < 0)
            return error_set(err, EINVAL, NULL, "target group %s: target %zu needs an ip and port",
                             name, i);
        const char *device = json_get_str(t, "device");
        json_int_t mark = json_get_int(t, "mark", 0);
        if ((device && (!*device || strlen(device) >= 16)) || mark < 0 || mark > UINT32_MAX)
            return error_set(err, EINVAL, NULL, "target group %s: target %zu: bad device or mark",
                             name, i);
        char *key = xasprintf("%s|%s:%d", name, ip, port);
        for (size_t k = 0; k < g->ntargets; k++)
            if (strcmp(g->targets[k]->key, key) == 0) {
                free(key);
                return error_set(err, EINVAL, NULL, "target group %s: target %s:%d twice", name, ip,
                                 port);
            }
        struct lb_target *tg = registry_get(reg, key);
        if (tg) {
            free(key);
            lb_target_ref(tg);
        } else {
            tg = xzalloc(sizeof(*tg));
            atomic_init(&tg->refs, 1);
            tg->key = key;
            snprintf(tg->ip, sizeof(tg->ip), "%s", ip);
            tg->port = port;
            tg->addr = ss;
            tg->addrlen = len;
            snprintf(tg->device, sizeof(tg->device), "%s", device ? device : "");
            tg->mark = (uint32_t)mark;
            tg->hc_fd = -1;
            tg->reason = "Elb.RegistrationInProgress";
            atomic_init(&tg->health, LB_HEALTH_INITIAL);
        }
        /* The health-check port may change with the configuration. */
        make_addr(ip, g->hc.port ? g->hc.port : port, &tg->hc_addr, &tg->hc_addrlen);
        g->targets[g->ntargets++] = tg;
    }
    return 0;
}

static struct lb_target_group *find_group(struct lb_config *c, const char *name)
{
    for (size_t i = 0; i < c->ngroups; i++)
        if (strcmp(c->groups[i].name, name) == 0)
            return &c->groups[i];
    return NULL;
}

static char *dup_opt(json_t *j, const char *key)
{
    const char *s = json_get_str(j, key);
    return s ? xstrdup(s) : NULL;
}

static int parse_action(json_t *j, struct lb_config *c, enum lb_proto lproto, struct lb_action *a,
                        struct error **err)
{
    const char *type = json_get_str(j, "type");
    if (!type)
        return error_set(err, EINVAL, NULL, "an action needs a type");
    if (strcmp(type, "forward") == 0) {
        a->type = LB_ACTION_FORWARD;
        json_t *groups = json_get_array(j, "target_groups");
        size_t n = groups ? json_array_size(groups) : 0;
        if (n == 0)
            return error_set(err, EINVAL, NULL, "forward needs target_groups");
        a->groups = xcalloc(n, sizeof(*a->groups));
        for (size_t i = 0; i < n; i++) {
            json_t *wg = json_array_get(groups, i);
            const char *name =
                json_is_string(wg) ? json_string_value(wg) : json_get_str(wg, "name");
            struct lb_target_group *tg = name ? find_group(c, name) : NULL;
            if (!tg)
                return error_set(err, EINVAL, NULL, "forward to unknown target group %s",
                                 name ? name : "(none)");
            if (tg->proto != lproto)
                return error_set(err, EINVAL, NULL,
                                 "target group %s: protocol differs from "
                                 "the listener's",
                                 name);
            int w = json_is_string(wg) ? 1 : (int)json_get_int(wg, "weight", 1);
            if (w < 0 || w > 999)
                return error_set(err, EINVAL, NULL, "weight must be 0..999");
            a->groups[a->ngroups++] = (struct lb_weighted_group){tg, w};
            a->total_weight += w;
        }
        if (a->total_weight == 0)
            return error_set(err, EINVAL, NULL, "forward: every weight is 0");
        return 0;
    }
    if (lproto == LB_PROTO_TCP)
        return error_set(err, EINVAL, NULL, "a TCP listener can only forward");
    if (strcmp(type, "fixed-response") == 0) {
        a->type = LB_ACTION_FIXED;
        a->status = (int)json_get_int(j, "status_code", 200);
        a->content_type = dup_opt(j, "content_type");
        a->body = dup_opt(j, "body");
        if (a->status < 200 || a->status > 599)
            return error_set(err, EINVAL, NULL, "fixed-response status_code must be 2XX-5XX");
        if (a->body && strlen(a->body) > 1024)
            return error_set(err, EINVAL, NULL, "fixed-response body over 1024 bytes");
        return 0;
    }
    if (strcmp(type, "redirect") == 0) {
        a->type = LB_ACTION_REDIRECT;
        const char *code = json_get_str(j, "status_code");
        a->status = code && strcmp(code, "HTTP_302") == 0 ? 302 : 301;
        a->protocol = dup_opt(j, "protocol");
        a->host = dup_opt(j, "host");
        a->port = dup_opt(j, "port");
        a->path = dup_opt(j, "path");
        a->query = dup_opt(j, "query");
        return 0;
    }
    return error_set(err, EINVAL, NULL, "unknown action type %s", type);
}

static int parse_condition(json_t *j, struct lb_condition *cd, struct error **err)
{
    const char *field = json_get_str(j, "field");
    if (!field)
        return error_set(err, EINVAL, NULL, "a condition needs a field");
    if (strcmp(field, "path-pattern") == 0)
        cd->field = LB_COND_PATH;
    else if (strcmp(field, "host-header") == 0)
        cd->field = LB_COND_HOST;
    else if (strcmp(field, "http-header") == 0)
        cd->field = LB_COND_HEADER;
    else if (strcmp(field, "http-request-method") == 0)
        cd->field = LB_COND_METHOD;
    else
        return error_set(err, EINVAL, NULL, "unknown condition field %s", field);
    if (cd->field == LB_COND_HEADER) {
        cd->header = dup_opt(j, "name");
        if (!cd->header)
            return error_set(err, EINVAL, NULL, "http-header needs a name");
    }
    json_t *values = json_get_array(j, "values");
    size_t n = values ? json_array_size(values) : 0;
    if (n == 0)
        return error_set(err, EINVAL, NULL, "condition %s needs values", field);
    cd->values = xcalloc(n, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(values, i);
        if (!json_is_string(v))
            return error_set(err, EINVAL, NULL, "condition values must be strings");
        cd->values[cd->nvalues++] = xstrdup(json_string_value(v));
    }
    return 0;
}

static int rule_cmp(const void *a, const void *b)
{
    const struct lb_rule *x = a, *y = b;
    return (x->priority > y->priority) - (x->priority < y->priority);
}

static int parse_listener(json_t *j, struct lb_config *c, struct lb_listener *l, struct error **err)
{
    if (parse_proto(json_get_str(j, "protocol"), &l->proto) < 0)
        return error_set(err, EINVAL, NULL, "listener protocol must be HTTP or TCP");
    const char *addr = json_get_str(j, "address");
    l->address = xstrdup(addr ? addr : "0.0.0.0");
    l->port = (int)json_get_int(j, "port", 0);
    struct sockaddr_storage ss;
    socklen_t len;
    if (make_addr(l->address, l->port, &ss, &len) < 0)
        return error_set(err, EINVAL, NULL, "listener needs an IP address and a port 1-65535");
    l->key = xasprintf("%s:%d", l->address, l->port);
    l->idle_timeout_s = (int)json_get_int(j, "idle_timeout", l->proto == LB_PROTO_TCP ? 350 : 60);
    if (l->idle_timeout_s < 1)
        return error_set(err, EINVAL, NULL, "listener %s: idle_timeout must be >= 1", l->key);

    json_t *rules = json_get_array(j, "rules");
    size_t n = rules ? json_array_size(rules) : 0;
    if (n && l->proto == LB_PROTO_TCP)
        return error_set(err, EINVAL, NULL, "listener %s: a TCP listener has no rules", l->key);
    l->rules = xcalloc(n ? n : 1, sizeof(*l->rules));
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(rules, i);
        struct lb_rule *rule = &l->rules[l->nrules++];
        rule->priority = (int)json_get_int(r, "priority", 0);
        if (rule->priority < 1 || rule->priority > 50000)
            return error_set(err, EINVAL, NULL, "listener %s: rule priority must be 1-50000",
                             l->key);
        for (size_t k = 0; k + 1 < l->nrules; k++)
            if (l->rules[k].priority == rule->priority)
                return error_set(err, EINVAL, NULL, "listener %s: priority %d twice", l->key,
                                 rule->priority);
        json_t *conds = json_get_array(r, "conditions");
        size_t nc = conds ? json_array_size(conds) : 0;
        if (nc == 0)
            return error_set(err, EINVAL, NULL, "listener %s: rule %d has no conditions", l->key,
                             rule->priority);
        rule->conds = xcalloc(nc, sizeof(*rule->conds));
        for (size_t k = 0; k < nc; k++) {
            rule->nconds++;
            if (parse_condition(json_array_get(conds, k), &rule->conds[k], err) < 0)
                return error_wrap(err, "listener %s: rule %d", l->key, rule->priority);
        }
        json_t *act = json_get_object(r, "action");
        if (!act || parse_action(act, c, l->proto, &rule->action, err) < 0) {
            error_set(err, EINVAL, NULL, "missing action");
            return error_wrap(err, "listener %s: rule %d", l->key, rule->priority);
        }
    }
    qsort(l->rules, l->nrules, sizeof(*l->rules), rule_cmp);
    json_t *def = json_get_object(j, "default_action");
    if (!def)
        return error_set(err, EINVAL, NULL, "listener %s needs a default_action", l->key);
    if (parse_action(def, c, l->proto, &l->default_action, err) < 0)
        return error_wrap(err, "listener %s: default_action", l->key);
    return 0;
}

int lb_config_parse(const char *text, struct lb_registry *reg, struct lb_config **ret,
                    struct error **err)
{
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return error_set(err, EINVAL, NULL, "config is not a JSON object (line %d: %s)", jerr.line,
                         jerr.text);
    }
    struct lb_config *c = xzalloc(sizeof(*c));
    atomic_init(&c->refs, 1);
    int r = 0;
    c->workers = (int)json_get_int(root, "workers", 0);
    c->status_file = dup_opt(root, "status_file");
    c->header_timeout_s = (int)json_get_int(root, "header_timeout", 10);
    c->max_request_line = (size_t)json_get_int(root, "max_request_line", 8192);
    c->max_head = (size_t)json_get_int(root, "max_header_size", 16384);
    if (c->workers < 0 || c->workers > LB_MAX_WORKERS || c->header_timeout_s < 1 ||
        c->max_request_line < 64 || c->max_head < c->max_request_line ||
        c->max_head > 1024 * 1024) {
        r = error_set(err, EINVAL, NULL,
                      "workers 0-%d, header_timeout >= 1, 64 <= max_request_line <= "
                      "max_header_size <= 1 MiB",
                      LB_MAX_WORKERS);
        goto out;
    }

    json_t *groups = json_get_array(root, "target_groups");
    size_t ng = groups ? json_array_size(groups) : 0;
    c->groups = xcalloc(ng ? ng : 1, sizeof(*c->groups));
    for (size_t i = 0; i < ng; i++) {
        c->ngroups++;
        r = parse_group(json_array_get(groups, i), reg, &c->groups[i], err);
        if (r < 0)
            goto out;
        for (size_t k = 0; k < i; k++)
            if (strcmp(c->groups[k].name, c->groups[i].name) == 0) {
                r = error_set(err, EINVAL, NULL, "target group %s twice", c->groups[i].name);
                goto out;
            }
    }
    json_t *listeners = json_get_array(root, "listeners");
    size_t nl = listeners ? json_array_size(listeners) : 0;
    c->listeners = xcalloc(nl ? nl : 1, sizeof(*c->listeners));
    for (size_t i = 0; i < nl; i++) {
        c->nlisteners++;
        r = parse_listener(json_array_get(listeners, i), c, &c->listeners[i], err);
        if (r < 0)
            goto out;
        for (size_t k = 0; k < i; k++)
            if (strcmp(c->listeners[k].key, c->listeners[i].key) == 0) {
                r = error_set(err, EINVAL, NULL, "listener %s twice", c->listeners[i].key);
                goto out;
            }
    }
out:
    json_decref(root);
    if (r < 0) {
        lb_config_unref(c);
        return r;
    }
    *ret = c;
    return 0;
}
