#include "base/json.h"
#include "base/xalloc.h"

#include <string.h>

const char *json_get_str(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

json_int_t json_get_int(const json_t *obj, const char *key, json_int_t def)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? json_integer_value(v) : def;
}

bool json_get_bool(const json_t *obj, const char *key, bool def)
{
    json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

json_t *json_get_array(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_array(v) ? v : NULL;
}

json_t *json_get_object(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_object(v) ? v : NULL;
}

json_t *json_timestamp(int64_t ms)
{
    return json_real((double)ms / 1000.0);
}

void json_set_str(json_t *obj, const char *key, const char *s)
{
    if (s)
        json_object_set_new(obj, key, json_string(s));
}

json_t *json_parse_trusted(const char *text)
{
    json_t *v = text ? json_loads(text, 0, NULL) : NULL;
    return v ? v : json_object();
}

char *json_dump_compact(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15));
    return s ? s : xstrdup("{}");
}
