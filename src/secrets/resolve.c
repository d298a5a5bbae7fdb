/* Secrets the task runtime needs: the registry credentials a container
 * definition names (repositoryCredentials.credentialsParameter).
 *
 * The control plane resolves them when it assigns a task; the reasons a
 * task stops with follow the ECS agent's words, so what users search for
 * finds the cause. */
#include "secrets/secrets.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>

#define REASON_PREFIX                                                                              \
    "ResourceInitializationError: unable to pull secrets or registry auth: execution resource "    \
    "retrieval failed: unable to retrieve secret from asm: "

/* {"username": ..., "password": ...} of one secret, as a new object. */
static int registry_auth(struct db *db, const char *account, const char *region, const char *ref,
                         json_t **ret, struct error **err)
{
    _cleanup_error_ struct error *e = NULL;
    _cleanup_free_ char *value = NULL;
    int r = secrets_get_string(db, account, region, ref, &value, &e);
    if (r < 0) {
        if (!e->type) /* the store failed: an internal error, not the user's */
            return error_set(err, -r, NULL, "read secret %s: %s", ref, e->msg);
        return error_set(err, -r, e->type,
                         REASON_PREFIX "failed to fetch secret %s from secrets manager: %s: %s",
                         ref, e->type, e->msg);
    }
    json_t *doc = json_loads(value, JSON_REJECT_DUPLICATES, NULL);
    OPENSSL_cleanse(value, strlen(value));
    const char *user = json_get_str(doc, "username");
    const char *pass = json_get_str(doc, "password");
    if (!json_is_object(doc) || !user || !pass) {
        json_decref(doc);
        return error_set(err, EINVAL, ERR_INVALID,
                         REASON_PREFIX "secret %s: the secret value is not a JSON object with "
                                       "string members \"username\" and \"password\"",
                         ref);
    }
    *ret = json_pack("{s:s, s:s}", "username", user, "password", pass);
    json_decref(doc);
    return 0;
}

int secrets_task_registry_auth(struct db *db, const char *account, const char *region,
                               const json_t *taskdef, json_t **ret, struct error **err)
{
    json_t *out = json_object();
    size_t i;
    json_t *c;
    json_array_foreach(json_get_array(taskdef, "containerDefinitions"), i, c)
    {
        const char *name = json_get_str(c, "name");
        const char *ref =
            json_get_str(json_get_object(c, "repositoryCredentials"), "credentialsParameter");
        if (!name || !ref)
            continue;
        json_t *auth = NULL;
        int r = registry_auth(db, account, region, ref, &auth, err);
        if (r < 0) {
            json_decref(out);
            return r;
        }
        json_object_set_new(out, name, auth);
    }
    *ret = out;
    return 0;
}
