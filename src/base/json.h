/* Small helpers over jansson for reading validated input and writing AWS
 * JSON 1.1 output. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* A json_t * whose reference is dropped when it goes out of scope
 * (jansson's json_decrefp). */
#define _cleanup_json_ __attribute__((cleanup(json_decrefp)))

/* Member as a string, or NULL when absent, null or not a string. */
const char *json_get_str(const json_t *obj, const char *key);
/* Member as an integer, or def when absent/not an integer. */
json_int_t json_get_int(const json_t *obj, const char *key, json_int_t def);
/* Member as a boolean, or def when absent/not a boolean. */
bool json_get_bool(const json_t *obj, const char *key, bool def);
/* Member as an array, or NULL. */
json_t *json_get_array(const json_t *obj, const char *key);
/* Member as an object, or NULL. */
json_t *json_get_object(const json_t *obj, const char *key);
/* A timestamp for AWS JSON: seconds since the epoch, with milliseconds. */
json_t *json_timestamp(int64_t ms);
/* Sets key to a new string when s is non-NULL. */
void json_set_str(json_t *obj, const char *key, const char *s);
/* Parses text that the program itself wrote earlier (store documents);
 * returns a new reference, or an empty object when it does not parse. */
json_t *json_parse_trusted(const char *text);
/* Serialises compactly; returns a new string. */
char *json_dump_compact(const json_t *v);
