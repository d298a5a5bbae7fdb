/* The AWS query protocols (see query.h). */
#include "api/query.h"
#include "api/model.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Deepest nesting of structures and lists a request may use. */
#define MAX_DEPTH 16

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes [s, s+n) ('+' is a space) into a new string; NULL on a
 * malformed escape or an embedded NUL. */
static char *form_unescape(const char *s, size_t n)
{
    char *out = xmalloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            *o++ = ' ';
        } else if (s[i] == '%') {
            int hi = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            *o++ = (char)(hi << 4 | lo);
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

/* Parses the body into params {key: value} and prefixes, the set of every
 * dotted prefix of a key ("Filter.1.Value.2" adds "Filter", "Filter.1",
 * "Filter.1.Value" and itself), so that list decoding can ask "is there an
 * element N" in constant time. */
static int form_parse(const char *body, size_t len, json_t *params, json_t *prefixes,
                      struct error **err)
{
    size_t count = 0;
    for (size_t i = 0; i < len;) {
        const char *p = body + i;
        const char *amp = memchr(p, '&', len - i);
        size_t n = amp ? (size_t)(amp - p) : len - i;
        i += n + 1;
        if (n == 0)
            continue;
        if (++count > QUERY_MAX_PARAMS)
            return error_set(err, EINVAL, "InvalidParameterValue",
                             "The request has more than %d parameters", QUERY_MAX_PARAMS);
        const char *eq = memchr(p, '=', n);
        size_t kn = eq ? (size_t)(eq - p) : n;
        _cleanup_free_ char *key = form_unescape(p, kn);
        _cleanup_free_ char *val = eq ? form_unescape(eq + 1, n - kn - 1) : xstrdup("");
        if (!key || !val || !*key)
            return error_set(err, EINVAL, "InvalidParameterCombination",
                             "The request body is not valid form encoding");
        json_object_set_new(params, key, json_string(val));
        for (char *dot = key; (dot = strchr(dot, '.')); dot++) {
            *dot = '\0';
            json_object_set_new(prefixes, key, json_true());
            *dot = '.';
        }
        json_object_set_new(prefixes, key, json_true());
    }
    return 0;
}

struct decoder {
    const json_t *shapes;
    enum query_dialect dialect;
    json_t *params;
    json_t *prefixes;
};

/* The request parameter name of a member reference. */
static char *member_name(const struct decoder *d, const json_t *ref, const char *dflt)
{
    const char *q = json_string_value(json_object_get(ref, "queryName"));
    if (q)
        return xstrdup(q);
    const char *loc = json_string_value(json_object_get(ref, "locationName"));
    if (!loc || !*loc)
        return xstrdup(dflt);
    char *s = xstrdup(loc);
    /* The ec2 protocol capitalises locationNames on input. */
    if (d->dialect == QUERY_DIALECT_EC2)
        s[0] = (char)toupper((unsigned char)s[0]);
    return s;
}

static char *join(const char *prefix, const char *name)
{
    return *prefix ? xasprintf("%s.%s", prefix, name) : xstrdup(name);
}

static int decode(const struct decoder *d, const char *shape_name, const char *key, int depth,
                  json_t **ret, struct error **err);

static int decode_structure(const struct decoder *d, const json_t *shape, const char *key,
                            int depth, json_t **ret, struct error **err)
{
    json_t *obj = json_object();
    const char *m;
    json_t *ref;
    json_object_foreach(json_object_get(shape, "members"), m, ref)
    {
        _cleanup_free_ char *name = member_name(d, ref, m);
        _cleanup_free_ char *k = join(key, name);
        json_t *v = NULL;
        int r = decode(d, json_string_value(json_object_get(ref, "shape")), k, depth + 1, &v, err);
        if (r < 0) {
            json_decref(obj);
            return r;
        }
        if (v)
            json_object_set_new(obj, m, v);
    }
    /* A nested structure none of whose members came is absent. */
    if (*key && json_object_size(obj) == 0 && !json_object_get(d->prefixes, key)) {
        json_decref(obj);
        obj = NULL;
    }
    *ret = obj;
    return 0;
}

static int decode_list(const struct decoder *d, const json_t *shape, const char *key, int depth,
                       json_t **ret, struct error **err)
{
    const json_t *mref = json_object_get(shape, "member");
    const char *mshape = json_string_value(json_object_get(mref, "shape"));
    _cleanup_free_ char *base = NULL;
    if (d->dialect == QUERY_DIALECT_EC2 || json_is_true(json_object_get(shape, "flattened")))
        base = xstrdup(key);
    else
        base = join(key, json_string_value(json_object_get(mref, "locationName"))
                             ? json_string_value(json_object_get(mref, "locationName"))
                             : "member");
    json_t *arr = NULL;
    /* An empty list is sent as the bare name with an empty value. */
    const char *bare = json_string_value(json_object_get(d->params, key));
    if (bare && !*bare)
        arr = json_array();
    for (size_t i = 1; i <= MODEL_MAX_ENTRIES + 1; i++) {
        char idx[24];
        snprintf(idx, sizeof(idx), "%zu", i);
        _cleanup_free_ char *k = join(base, idx);
        if (!json_object_get(d->prefixes, k))
            break;
        json_t *v = NULL;
        int r = decode(d, mshape, k, depth + 1, &v, err);
        if (r < 0) {
            json_decref(arr);
            return r;
        }
        if (!arr)
            arr = json_array();
        json_array_append_new(arr, v ? v : json_null());
    }
    *ret = arr;
    return 0;
}

static int decode_map(const struct decoder *d, const json_t *shape, const char *key, int depth,
                      json_t **ret, struct error **err)
{
    const json_t *kref = json_object_get(shape, "key"), *vref = json_object_get(shape, "value");
    _cleanup_free_ char *kname = member_name(d, kref, "key");
    _cleanup_free_ char *vname = member_name(d, vref, "value");
    _cleanup_free_ char *base =
        json_is_true(json_object_get(shape, "flattened")) ? xstrdup(key) : join(key, "entry");
    json_t *map = NULL;
    for (size_t i = 1; i <= MODEL_MAX_ENTRIES + 1; i++) {
        _cleanup_free_ char *e = xasprintf("%s.%zu", base, i);
        if (!json_object_get(d->prefixes, e))
            break;
        _cleanup_free_ char *kk = join(e, kname);
        _cleanup_free_ char *vk = join(e, vname);
        const char *k = json_string_value(json_object_get(d->params, kk));
        if (!k)
            return error_set(err, EINVAL, "MissingParameter",
                             "The request must contain the parameter %s", kk);
        json_t *v = NULL;
        int r =
            decode(d, json_string_value(json_object_get(vref, "shape")), vk, depth + 1, &v, err);
        if (r < 0) {
            json_decref(map);
            return r;
        }
        if (!map)
            map = json_object();
        json_object_set_new(map, k, v ? v : json_string(""));
    }
    *ret = map;
    return 0;
}

static int decode(const struct decoder *d, const char *shape_name, const char *key, int depth,
                  json_t **ret, struct error **err)
{
    *ret = NULL;
    if (depth > MAX_DEPTH)
        return error_set(err, EINVAL, "InvalidParameterValue", "'%s' is nested too deeply", key);
    const json_t *shape = json_object_get(d->shapes, shape_name ? shape_name : "");
    const char *type = json_string_value(json_object_get(shape, "type"));
    if (!type)
        return error_set(err, EIO, NULL, "model has no shape '%s'", shape_name ? shape_name : "");
    if (!strcmp(type, "structure"))
        return decode_structure(d, shape, key, depth, ret, err);
    if (!strcmp(type, "list"))
        return decode_list(d, shape, key, depth, ret, err);
    if (!strcmp(type, "map"))
        return decode_map(d, shape, key, depth, ret, err);

    const char *s = json_string_value(json_object_get(d->params, key));
    if (!s)
        return 0;
    if (!strcmp(type, "integer") || !strcmp(type, "long")) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (!*s || *end || errno)
            return error_set(err, EINVAL, "InvalidParameterValue",
                             "Invalid value '%.64s' for %s: not an integer", s, key);
        *ret = json_integer(v);
    } else if (!strcmp(type, "boolean")) {
        if (!strcasecmp(s, "true"))
            *ret = json_true();
        else if (!strcasecmp(s, "false"))
            *ret = json_false();
        else
            return error_set(err, EINVAL, "InvalidParameterValue",
                             "Invalid value '%.64s' for %s: not a boolean", s, key);
    } else if (!strcmp(type, "double") || !strcmp(type, "float")) {
        char *end;
        double v = strtod(s, &end);
        if (!*s || *end)
            return error_set(err, EINVAL, "InvalidParameterValue",
                             "Invalid value '%.64s' for %s: not a number", s, key);
        *ret = json_real(v);
    } else {
        *ret = json_string(s);
    }
    return 0;
}

int query_decode(const json_t *model, enum query_dialect dialect, const char *body, size_t len,
                 char **ret_action, json_t **ret_in, struct error **err)
{
    json_t *params = json_object(), *prefixes = json_object();
    int r = form_parse(body, len, params, prefixes, err);
    if (r < 0)
        goto out;
    const char *action = json_string_value(json_object_get(params, "Action"));
    if (!action || !*action) {
        r = error_set(err, EINVAL, "MissingAction",
                      "The request must contain the parameter Action");
        goto out;
    }
    const json_t *ops = json_object_get(model, "operations");
    const json_t *op = json_object_get(ops, action);
    if (!op) {
        r = error_set(err, EINVAL, "InvalidAction",
                      "The action %.64s is not valid for this web service.", action);
        goto out;
    }
    const char *version = json_string_value(json_object_get(params, "Version"));
    const char *want =
        json_string_value(json_object_get(json_object_get(model, "metadata"), "apiVersion"));
    if (!version) {
        r = error_set(err, EINVAL, "MissingParameter",
                      "The request must contain the parameter Version");
        goto out;
    }
    if (want && strcmp(version, want) != 0) {
        r = error_set(err, EINVAL, "InvalidParameterValue",
                      "Version %.32s is not supported; this service speaks %s", version, want);
        goto out;
    }
    json_t *in = NULL;
    if (json_is_string(op)) {
        struct decoder d = {
            .shapes = json_object_get(model, "shapes"),
            .dialect = dialect,
            .params = params,
            .prefixes = prefixes,
        };
        r = decode(&d, json_string_value(op), "", 0, &in, err);
        if (r < 0)
            goto out;
    }
    *ret_action = xstrdup(action);
    *ret_in = in ? in : json_object();
out:
    json_decref(params);
    json_decref(prefixes);
    return r;
}

void query_xml_escape(struct buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            buf_puts(b, "&amp;");
            break;
        case '<':
            buf_puts(b, "&lt;");
            break;
        case '>':
            buf_puts(b, "&gt;");
            break;
        case '"':
            buf_puts(b, "&quot;");
            break;
        case '\'':
            buf_puts(b, "&apos;");
            break;
        default:
            buf_append(b, s, 1);
        }
    }
}

static void render_value(struct buf *b, const char *item, const json_t *v);

static void render_element(struct buf *b, const char *item, const char *name, const json_t *v)
{
    if (json_is_null(v))
        return;
    buf_printf(b, "<%s>", name);
    render_value(b, item, v);
    buf_printf(b, "</%s>", name);
}

static void render_value(struct buf *b, const char *item, const json_t *v)
{
    const char *k;
    json_t *m;
    size_t i;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        json_object_foreach((json_t *)v, k, m) render_element(b, item, k, m);
        break;
    case JSON_ARRAY:
        json_array_foreach(v, i, m) render_element(b, item, item, m);
        break;
    case JSON_STRING:
        query_xml_escape(b, json_string_value(v));
        break;
    case JSON_INTEGER:
        buf_printf(b, "%lld", (long long)json_integer_value(v));
        break;
    case JSON_REAL:
        buf_printf(b, "%.17g", json_real_value(v));
        break;
    case JSON_TRUE:
        buf_puts(b, "true");
        break;
    case JSON_FALSE:
        buf_puts(b, "false");
        break;
    case JSON_NULL:
        break;
    }
}

char *query_render(enum query_dialect d, const char *action, const json_t *out,
                   const char *request_id, const char *xmlns)
{
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    buf_printf(&b, "<%sResponse", action);
    if (xmlns) {
        buf_puts(&b, " xmlns=\"");
        query_xml_escape(&b, xmlns);
        buf_puts(&b, "\"");
    }
    buf_puts(&b, ">");
    if (d == QUERY_DIALECT_EC2) {
        buf_printf(&b, "<requestId>%s</requestId>", request_id);
        if (out)
            render_value(&b, "item", out);
    } else {
        buf_printf(&b, "<%sResult>", action);
        if (out)
            render_value(&b, "member", out);
        buf_printf(&b, "</%sResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata>",
                   action, request_id);
    }
    buf_printf(&b, "</%sResponse>\n", action);
    return buf_steal(&b);
}

char *query_render_error(enum query_dialect d, int status, const char *code, const char *message,
                         const char *request_id)
{
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    if (d == QUERY_DIALECT_EC2) {
        buf_puts(&b, "<Response><Errors><Error><Code>");
        query_xml_escape(&b, code);
        buf_puts(&b, "</Code><Message>");
        query_xml_escape(&b, message ? message : "");
        buf_printf(&b, "</Message></Error></Errors><RequestID>%s</RequestID></Response>\n",
                   request_id);
    } else {
        buf_printf(&b, "<ErrorResponse><Error><Type>%s</Type><Code>",
                   status >= 500 ? "Receiver" : "Sender");
        query_xml_escape(&b, code);
        buf_puts(&b, "</Code><Message>");
        query_xml_escape(&b, message ? message : "");
        buf_printf(&b, "</Message></Error><RequestId>%s</RequestId></ErrorResponse>\n", request_id);
    }
    return buf_steal(&b);
}

const char *query_error_code(enum query_dialect d, const char *code, const char *message)
{
    if (!code)
        return "InternalError";
    if (!strcmp(code, ERR_INVALID)) {
        if (message && strstr(message, "Missing required parameter"))
            return "MissingParameter";
        /* The plain query services (ELBv2, IAM) answer a value out of the
         * model's range with ValidationError. */
        return d == QUERY_DIALECT_EC2 ? "InvalidParameterValue" : "ValidationError";
    }
    if (!strcmp(code, ERR_SERIALIZE))
        return "InvalidParameterValue";
    if (!strcmp(code, ERR_SERVER))
        return d == QUERY_DIALECT_EC2 ? "InternalError" : "InternalFailure";
    if (!strcmp(code, ERR_THROTTLE))
        return d == QUERY_DIALECT_EC2 ? "RequestLimitExceeded" : "Throttling";
    if (!strcmp(code, "UnknownOperationException"))
        return "InvalidAction";
    if (d == QUERY_DIALECT_EC2 && (!strcmp(code, "UnrecognizedClientException") ||
                                   !strcmp(code, "InvalidSignatureException") ||
                                   !strcmp(code, "IncompleteSignatureException") ||
                                   !strcmp(code, "MissingAuthenticationTokenException")))
        return "AuthFailure";
    return code;
}
