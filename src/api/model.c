#include "api/model.h"
#include "base/cleanup.h"
#include "base/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct model {
    json_t *root;
    json_t *ops;
    json_t *shapes;
};

struct model *model_new(const char *json_text)
{
    json_error_t jerr;
    json_t *root = json_loads(json_text, 0, &jerr);
    if (!root || !json_is_object(json_object_get(root, "shapes"))) {
        fprintf(stderr, "skiff: embedded service model is malformed: %s\n", jerr.text);
        abort();
    }
    struct model *m = xzalloc(sizeof(*m));
    m->root = root;
    m->ops = json_object_get(root, "operations");
    m->shapes = json_object_get(root, "shapes");
    return m;
}

void model_free(struct model *m)
{
    if (!m)
        return;
    json_decref(m->root);
    free(m);
}

const char *model_op_input(const struct model *m, const char *op)
{
    json_t *v = json_object_get(m->ops, op);
    if (!v)
        return NULL;
    return json_is_string(v) ? json_string_value(v) : "";
}

const char *model_metadata(const struct model *m, const char *key)
{
    return json_string_value(json_object_get(json_object_get(m->root, "metadata"), key));
}

/* The member path being validated, e.g. containerDefinitions[0].name. */
struct path {
    char s[512];
    size_t len;
};

static size_t path_push(struct path *p, const char *fmt, const char *key, size_t idx)
{
    size_t saved = p->len;
    int n;
    if (key)
        n = snprintf(p->s + p->len, sizeof(p->s) - p->len, fmt, p->len ? "." : "", key);
    else
        n = snprintf(p->s + p->len, sizeof(p->s) - p->len, fmt, idx);
    if (n > 0)
        p->len = p->len + (size_t)n < sizeof(p->s) ? p->len + (size_t)n : sizeof(p->s) - 1;
    return saved;
}

static void path_pop(struct path *p, size_t saved)
{
    p->len = saved;
    p->s[saved] = '\0';
}

static const char *where(const struct path *p)
{
    return p->len ? p->s : "request";
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "a list";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static int type_error(struct error **err, const struct path *p, const char *want, const json_t *v)
{
    return error_set(err, EINVAL, ERR_SERIALIZE, "Expected %s for '%s', got %s", want, where(p),
                     json_type_name(v));
}

static int check_len(struct error **err, const struct path *p, const json_t *shape, size_t n,
                     const char *unit, size_t dflt_max)
{
    json_t *mn = json_object_get(shape, "min"), *mx = json_object_get(shape, "max");
    if (json_is_integer(mn) && (json_int_t)n < json_integer_value(mn))
        return error_set(err, EINVAL, ERR_INVALID, "'%s' must have at least %lld %s", where(p),
                         (long long)json_integer_value(mn), unit);
    size_t max = dflt_max;
    if (json_is_integer(mx) && json_integer_value(mx) >= 0)
        max = (size_t)json_integer_value(mx);
    if (n > max)
        return error_set(err, EINVAL, ERR_INVALID, "'%s' must have at most %zu %s", where(p), max,
                         unit);
    return 0;
}

static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            n++;
    return n;
}

static int validate(const struct model *m, const char *shape_name, const json_t *v, struct path *p,
                    int depth, struct error **err);

static int validate_structure(const struct model *m, const json_t *shape, const json_t *v,
                              struct path *p, int depth, struct error **err)
{
    if (!json_is_object(v))
        return type_error(err, p, "an object", v);
    json_t *members = json_object_get(shape, "members");
    json_t *req = json_object_get(shape, "required");
    size_t i;
    json_t *r;
    json_array_foreach(req, i, r)
    {
        const char *name = json_string_value(r);
        if (!name)
            continue;
        json_t *mv = json_object_get(v, name);
        if (!mv || json_is_null(mv)) {
            size_t s = path_push(p, "%s%s", name, 0);
            int ret =
                error_set(err, EINVAL, ERR_INVALID, "Missing required parameter '%s'", where(p));
            path_pop(p, s);
            return ret;
        }
    }
    const char *key;
    json_t *mv;
    json_object_foreach((json_t *)v, key, mv)
    {
        json_t *member = json_object_get(members, key);
        if (!member || json_is_null(mv))
            continue;
        size_t s = path_push(p, "%s%s", key, 0);
        int ret =
            validate(m, json_string_value(json_object_get(member, "shape")), mv, p, depth + 1, err);
        path_pop(p, s);
        if (ret < 0)
            return ret;
    }
    return 0;
}

static int validate(const struct model *m, const char *shape_name, const json_t *v, struct path *p,
                    int depth, struct error **err)
{
    if (depth > 64)
        return error_set(err, EINVAL, ERR_INVALID, "'%s' is nested too deeply", where(p));
    json_t *shape = json_object_get(m->shapes, shape_name ? shape_name : "");
    if (!shape)
        return 0;
    const char *type = json_string_value(json_object_get(shape, "type"));
    if (!type)
        return 0;
    if (!strcmp(type, "structure"))
        return validate_structure(m, shape, v, p, depth, err);
    if (!strcmp(type, "string")) {
        if (!json_is_string(v))
            return type_error(err, p, "a string", v);
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        if (len > MODEL_MAX_STRING)
            return error_set(err, EINVAL, ERR_INVALID, "'%s' is longer than %d bytes", where(p),
                             MODEL_MAX_STRING);
        json_t *en = json_object_get(shape, "enum");
        if (json_is_array(en)) {
            size_t i;
            json_t *e;
            int found = 0;
            json_array_foreach(en, i, e) if (!strcmp(json_string_value(e), s)) found = 1;
            if (!found) {
                struct buf_s {
                    char t[512];
                    size_t n;
                } l = {"", 0};
                json_array_foreach(en, i, e)
                {
                    int n = snprintf(l.t + l.n, sizeof(l.t) - l.n, "%s%s", i ? ", " : "",
                                     json_string_value(e));
                    if (n < 0 || l.n + (size_t)n >= sizeof(l.t))
                        break;
                    l.n += (size_t)n;
                }
                return error_set(err, EINVAL, ERR_INVALID,
                                 "'%s' has an invalid value; valid values are: %s", where(p), l.t);
            }
        }
        return check_len(err, p, shape, utf8_chars(s, len), "characters", MODEL_MAX_STRING);
    }
    if (!strcmp(type, "integer") || !strcmp(type, "long")) {
        if (!json_is_integer(v))
            return type_error(err, p, "an integer", v);
        json_int_t n = json_integer_value(v);
        json_t *mn = json_object_get(shape, "min"), *mx = json_object_get(shape, "max");
        if (!strcmp(type, "integer") && (n > 2147483647LL || n < -2147483648LL))
            return error_set(err, EINVAL, ERR_SERIALIZE, "'%s' does not fit in a 32-bit integer",
                             where(p));
        if (json_is_integer(mn) && n < json_integer_value(mn))
            return error_set(err, EINVAL, ERR_INVALID, "'%s' must be at least %lld", where(p),
                             (long long)json_integer_value(mn));
        if (json_is_integer(mx) && n > json_integer_value(mx))
            return error_set(err, EINVAL, ERR_INVALID, "'%s' must be at most %lld", where(p),
                             (long long)json_integer_value(mx));
        return 0;
    }
    if (!strcmp(type, "double") || !strcmp(type, "float")) {
        if (!json_is_number(v))
            return type_error(err, p, "a number", v);
        return 0;
    }
    if (!strcmp(type, "boolean")) {
        if (!json_is_boolean(v))
            return type_error(err, p, "a boolean", v);
        return 0;
    }
    if (!strcmp(type, "timestamp")) {
        if (!json_is_number(v))
            return type_error(err, p, "a timestamp (seconds since the epoch)", v);
        return 0;
    }
    if (!strcmp(type, "blob")) {
        if (!json_is_string(v))
            return type_error(err, p, "a base64 string", v);
        return 0;
    }
    if (!strcmp(type, "list")) {
        if (!json_is_array(v))
            return type_error(err, p, "a list", v);
        int r = check_len(err, p, shape, json_array_size(v), "items", MODEL_MAX_ENTRIES);
        if (r < 0)
            return r;
        const char *ms =
            json_string_value(json_object_get(json_object_get(shape, "member"), "shape"));
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (json_is_null(e))
                return error_set(err, EINVAL, ERR_INVALID, "'%s' contains null", where(p));
            size_t s = path_push(p, "[%zu]", NULL, i);
            r = validate(m, ms, e, p, depth + 1, err);
            path_pop(p, s);
            if (r < 0)
                return r;
        }
        return 0;
    }
    if (!strcmp(type, "map")) {
        if (!json_is_object(v))
            return type_error(err, p, "a map", v);
        int r = check_len(err, p, shape, json_object_size(v), "entries", MODEL_MAX_ENTRIES);
        if (r < 0)
            return r;
        const char *ks = json_string_value(json_object_get(json_object_get(shape, "key"), "shape"));
        const char *vs =
            json_string_value(json_object_get(json_object_get(shape, "value"), "shape"));
        const char *key;
        json_t *e;
        json_object_foreach((json_t *)v, key, e)
        {
            size_t s = path_push(p, "%s%s", key, 0);
            json_t *kj = json_string(key);
            r = validate(m, ks, kj, p, depth + 1, err);
            json_decref(kj);
            if (r == 0 && !json_is_null(e))
                r = validate(m, vs, e, p, depth + 1, err);
            path_pop(p, s);
            if (r < 0)
                return r;
        }
        return 0;
    }
    return 0;
}

int model_validate(const struct model *m, const char *shape, const json_t *value,
                   struct error **err)
{
    struct path p = {"", 0};
    return validate(m, shape, value, &p, 0, err);
}
