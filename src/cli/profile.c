#include "cli/profile.h"
#include "api/accounts.h"
#include "base/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct profile *profile_new(const char *name, const char *access_key, const char *secret,
                            const char *session_token)
{
    struct profile *p = xzalloc(sizeof(*p));
    p->name = xstrdup(name);
    p->access_key = xstrdup(access_key);
    p->secret = xstrdup(secret);
    p->session_token = session_token && *session_token ? xstrdup(session_token) : NULL;
    return p;
}

void profile_free(struct profile *p)
{
    if (!p)
        return;
    explicit_bzero(p->secret, strlen(p->secret));
    free(p->name);
    free(p->access_key);
    free(p->secret);
    free(p->session_token);
    free(p);
}

int profile_load(const char *path, const char *name, struct profile **ret, struct error **err)
{
    struct accounts *accs = NULL;
    int r = accounts_load(path, &accs, err);
    if (r < 0)
        return r;
    const struct account *found = NULL;
    for (size_t i = 0; accounts_at(accs, i); i++)
        if (!strcmp(accounts_at(accs, i)->profile, name))
            found = accounts_at(accs, i);
    if (!found) {
        accounts_free(accs);
        return error_set(err, ENOENT, NULL, "credentials: %s has no profile [%s]", path, name);
    }
    *ret = profile_new(found->profile, found->access_key, found->secret, found->session_token);
    accounts_free(accs);
    return 0;
}
