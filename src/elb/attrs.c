/* Load balancer and target group attributes: which keys each kind of
 * resource has, their defaults and the values they accept. Stored as one
 * JSON object {key: value} per resource, answered as [{Key, Value}]. */
#include "elb/elb-internal.h"
#include "elb/attrs.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum kind { BOOL, INT, ENUM };

struct attr {
    const char *key;
    const char *scope; /* "application", "network", "HTTP", "TCP" or NULL for every one */
    enum kind kind;
    long min, max;
    const char *const *values; /* ENUM */
    const char *dflt;
};

static const char *const cookie_types[] = {"lb_cookie", "app_cookie", NULL};
static const char *const source_ip[] = {"source_ip", NULL};
static const char *const algorithms[] = {"round_robin", "least_outstanding_requests", NULL};

static const struct attr lb_attrs[] = {
    {"deletion_protection.enabled", NULL, BOOL, 0, 0, NULL, "false"},
    {"idle_timeout.timeout_seconds", "application", INT, 1, 4000, NULL, "60"},
    {"routing.http2.enabled", "application", BOOL, 0, 0, NULL, "true"},
    {"routing.http.drop_invalid_header_fields.enabled", "application", BOOL, 0, 0, NULL, "false"},
    {"load_balancing.cross_zone.enabled", "network", BOOL, 0, 0, NULL, "false"},
};

static const struct attr tg_attrs[] = {
    {"deregistration_delay.timeout_seconds", NULL, INT, 0, 3600, NULL, "300"},
    {"stickiness.enabled", NULL, BOOL, 0, 0, NULL, "false"},
    {"stickiness.type", "HTTP", ENUM, 0, 0, cookie_types, "lb_cookie"},
    {"stickiness.type", "TCP", ENUM, 0, 0, source_ip, "source_ip"},
    {"stickiness.lb_cookie.duration_seconds", "HTTP", INT, 1, 604800, NULL, "86400"},
    {"load_balancing.algorithm.type", "HTTP", ENUM, 0, 0, algorithms, "round_robin"},
    {"deregistration_delay.connection_termination.enabled", "TCP", BOOL, 0, 0, NULL, "false"},
    {"proxy_protocol_v2.enabled", "TCP", BOOL, 0, 0, NULL, "false"},
};

static void table(enum elb_attr_owner owner, const struct attr **ret, size_t *ret_n)
{
    if (owner == ELB_ATTRS_LB) {
        *ret = lb_attrs;
        *ret_n = ARRAY_SIZE(lb_attrs);
    } else {
        *ret = tg_attrs;
        *ret_n = ARRAY_SIZE(tg_attrs);
    }
}

static bool in_scope(const struct attr *a, const char *scope)
{
    return !a->scope || !strcmp(a->scope, scope);
}

json_t *elb_attrs_defaults(enum elb_attr_owner owner, const char *scope)
{
    const struct attr *t;
    size_t n;
    table(owner, &t, &n);
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        if (in_scope(&t[i], scope))
            json_object_set_new(o, t[i].key, json_string(t[i].dflt));
    return o;
}

static int check_value(const struct attr *a, const char *owner_noun, const char *v,
                       struct error **err)
{
    if (a->kind == BOOL && (!strcmp(v, "true") || !strcmp(v, "false")))
        return 0;
    if (a->kind == INT) {
        char *end;
        long n = strtol(v, &end, 10);
        if (*v && !*end && n >= a->min && n <= a->max)
            return 0;
        return error_set(err, EINVAL, ELB_INVALID_CONFIG,
                         "%s attribute '%s' must be an integer between %ld and %ld", owner_noun,
                         a->key, a->min, a->max);
    }
    if (a->kind == ENUM)
        for (const char *const *e = a->values; *e; e++)
            if (!strcmp(*e, v))
                return 0;
    return error_set(err, EINVAL, ELB_INVALID_CONFIG,
                     "%s attribute value '%.64s' is not valid for key '%s'", owner_noun, v, a->key);
}

int elb_attrs_apply(enum elb_attr_owner owner, const char *scope, json_t *attrs,
                    const json_t *changes, struct error **err)
{
    const struct attr *t;
    size_t n;
    table(owner, &t, &n);
    const char *noun = owner == ELB_ATTRS_LB ? "Load balancer" : "Target group";
    if (json_array_size(changes) == 0)
        return error_set(err, EINVAL, ELB_VALIDATION, "At least one attribute must be given");
    size_t i;
    json_t *c;
    json_array_foreach(changes, i, c)
    {
        const char *k = json_get_str(c, "Key");
        const char *v = json_get_str(c, "Value");
        if (!k || !v)
            return error_set(err, EINVAL, ELB_VALIDATION, "Each attribute needs a Key and a Value");
        const struct attr *found = NULL;
        bool known = false;
        for (size_t j = 0; j < n && !found; j++) {
            if (strcmp(t[j].key, k) != 0)
                continue;
            known = true;
            if (in_scope(&t[j], scope))
                found = &t[j];
        }
        if (!found)
            return error_set(err, EINVAL, ELB_VALIDATION,
                             known ? "%s attribute key '%.128s' is not supported for %s"
                                   : "%s attribute key '%.128s' is not recognized%.0s",
                             noun, k, scope);
        int r = check_value(found, noun, v, err);
        if (r < 0)
            return r;
        json_object_set_new(attrs, k, json_string(v));
    }
    return 0;
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *elb_attrs_list(const json_t *attrs)
{
    _cleanup_free_ const char **keys = xcalloc(json_object_size(attrs) + 1, sizeof(*keys));
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)attrs, k, v) keys[n++] = k;
    qsort(keys, n, sizeof(*keys), cmp_keys);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_pack("{s:s, s:O}", "Key", keys[i], "Value",
                                              json_object_get(attrs, keys[i])));
    return list;
}
