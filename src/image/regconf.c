/* Registry settings (DATA-DIR/registries.conf) and credentials
 * (DATA-DIR/config.json). Both files are small and read on every pull, so
 * edits apply without a restart. */
#include "image/image-internal.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONF_MAX_LINE 4096
#define CONF_MAX_SIZE (1024 * 1024)

bool img_host_is_loopback(const char *domain)
{
    char host[256];
    if (strlen(domain) >= sizeof(host))
        return false;
    if (domain[0] == '[') {
        const char *close = strchr(domain, ']');
        if (!close)
            return false;
        snprintf(host, sizeof(host), "%.*s", (int)(close - domain - 1), domain + 1);
        struct in6_addr a6;
        return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
    }
    snprintf(host, sizeof(host), "%s", domain);
    host[strcspn(host, ":")] = '\0';
    if (!strcmp(host, "localhost"))
        return true;
    struct in_addr a;
    return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

/* One `key = value` of the TOML subset: strings in double quotes with \"
 * and \\ escapes, true/false. */
struct conf_value {
    bool is_bool;
    bool b;
    char s[CONF_MAX_LINE];
};

static int parse_value(const char *p, struct conf_value *v)
{
    while (*p == ' ' || *p == '\t')
        p++;
    memset(v, 0, sizeof(*v));
    if (!strncmp(p, "true", 4) || !strncmp(p, "false", 5)) {
        v->is_bool = true;
        v->b = p[0] == 't';
        p += v->b ? 4 : 5;
    } else if (*p == '"') {
        size_t o = 0;
        for (p++; *p && *p != '"'; p++) {
            if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                p++;
            else if (*p == '\\')
                return -EINVAL;
            v->s[o++] = *p;
        }
        if (*p != '"')
            return -EINVAL;
        p++;
    } else {
        return -EINVAL;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    return (*p == '\0' || *p == '#') ? 0 : -EINVAL;
}

struct conf_entry {
    char location[CONF_MAX_LINE];
    bool insecure, blocked;
    char ca_file[CONF_MAX_LINE];
};

static int conf_error(struct error **err, const char *path, int line, const char *why)
{
    return error_set(err, EINVAL, NULL, "%s:%d: %s", path, line, why);
}

enum conf_table {
    TABLE_TOP,
    TABLE_REGISTRY, /* [[registry]] */
    TABLE_CACHE,    /* [cache] */
    TABLE_OTHER,
};

struct conf_reader {
    const char *domain;
    struct conf_entry cur, found;
    bool have_found;
    int64_t cache_max;
};

static int parse_size(const char *s, int64_t *ret)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -EINVAL;
    while (*end == ' ')
        end++;
    static const char units[] = "KMGT";
    double mul = 1;
    if (*end) {
        const char *u = strchr(units, toupper((unsigned char)*end));
        if (!u)
            return -EINVAL;
        for (const char *k = units; k <= u; k++)
            mul *= 1024;
        end++;
        if (*end == 'i' || *end == 'I')
            end++;
        if (*end == 'b' || *end == 'B')
            end++;
        if (*end)
            return -EINVAL;
    }
    if (v * mul > 9e18)
        return -EINVAL;
    *ret = (int64_t)(v * mul);
    return 0;
}

static void end_table(struct conf_reader *rd, enum conf_table t)
{
    if (t == TABLE_REGISTRY && rd->domain && !strcmp(rd->cur.location, rd->domain)) {
        rd->found = rd->cur;
        rd->have_found = true;
    }
    memset(&rd->cur, 0, sizeof(rd->cur));
}

/* Reads the whole file into rd (a missing file reads as empty). */
static int conf_read(const char *path, struct conf_reader *rd, struct error **err)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? 0 : error_errno(err, errno, "open %s", path);
    char line[CONF_MAX_LINE];
    int lineno = 0;
    enum conf_table table = TABLE_TOP;
    size_t total = 0;
    _cleanup_free_ struct conf_value *v = xzalloc(sizeof(*v));
    for (;;) {
        bool eof = !fgets(line, sizeof(line), f);
        size_t n = eof ? 0 : strlen(line);
        total += n;
        if (total > CONF_MAX_SIZE)
            return conf_error(err, path, lineno, "file too large");
        if (!eof && n == sizeof(line) - 1 && line[n - 1] != '\n')
            return conf_error(err, path, lineno + 1, "line too long");
        char *s = line;
        if (!eof) {
            lineno++;
            while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
                line[--n] = '\0';
            while (*s == ' ' || *s == '\t')
                s++;
            if (*s == '\0' || *s == '#')
                continue;
        }
        if (eof || *s == '[') {
            end_table(rd, table);
            if (eof)
                break;
            table = !strcmp(s, "[[registry]]") ? TABLE_REGISTRY
                    : !strcmp(s, "[cache]")    ? TABLE_CACHE
                                               : TABLE_OTHER;
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq)
            return conf_error(err, path, lineno, "expected key = value");
        char *k = s, *ke = eq;
        while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t'))
            ke--;
        *ke = '\0';
        if (table != TABLE_REGISTRY && table != TABLE_CACHE)
            continue; /* other tools' settings: not ours to judge */
        if (parse_value(eq + 1, v) < 0)
            return conf_error(err, path, lineno, "value must be a \"string\", true or false");
        struct conf_entry *cur = &rd->cur;
        if (table == TABLE_CACHE && !strcmp(k, "max_size")) {
            if (v->is_bool || parse_size(v->s, &rd->cache_max) < 0)
                return conf_error(err, path, lineno,
                                  "max_size wants a size such as \"500M\" or \"20G\"");
        } else if (table != TABLE_REGISTRY) {
            continue; /* keys of other tools are not ours */
        } else if (!strcmp(k, "location") && !v->is_bool) {
            snprintf(cur->location, sizeof(cur->location), "%s", v->s);
        } else if (!strcmp(k, "insecure") && v->is_bool) {
            cur->insecure = v->b;
        } else if (!strcmp(k, "blocked") && v->is_bool) {
            cur->blocked = v->b;
        } else if (!strcmp(k, "ca_file") && !v->is_bool) {
            snprintf(cur->ca_file, sizeof(cur->ca_file), "%s", v->s);
        } else if (!strcmp(k, "location") || !strcmp(k, "insecure") || !strcmp(k, "blocked") ||
                   !strcmp(k, "ca_file")) {
            return conf_error(err, path, lineno, "wrong value type");
        }
    }
    return 0;
}

int img_cache_conf_load(const char *data_dir, int64_t *ret, struct error **err)
{
    _cleanup_free_ char *path = xasprintf("%s/registries.conf", data_dir);
    _cleanup_free_ struct conf_reader *rd = xzalloc(sizeof(*rd));
    int r = conf_read(path, rd, err);
    if (r < 0)
        return r;
    *ret = rd->cache_max;
    return 0;
}

int img_registry_conf_load(const char *data_dir, const char *domain, struct img_registry_conf *ret,
                           struct error **err)
{
    _cleanup_free_ char *path = xasprintf("%s/registries.conf", data_dir);
    _cleanup_free_ struct conf_reader *rd = xzalloc(sizeof(*rd));
    rd->domain = domain;
    int r = conf_read(path, rd, err);
    if (r < 0)
        return r;
    const struct conf_entry *e = rd->have_found ? &rd->found : NULL;
    memset(ret, 0, sizeof(*ret));
    ret->host = xstrdup(!strcmp(domain, "docker.io") ? "registry-1.docker.io" : domain);
    ret->allow_http = img_host_is_loopback(domain) || (e && e->insecure);
    ret->tls_verify = !(e && e->insecure);
    ret->blocked = e && e->blocked;
    if (e && e->ca_file[0])
        ret->ca_file = xstrdup(e->ca_file);
    return 0;
}

void img_registry_conf_done(struct img_registry_conf *c)
{
    free(c->host);
    free(c->ca_file);
    c->host = c->ca_file = NULL;
}

/* config.json keys that name domain, as Docker writes them. */
static bool auth_key_matches(const char *key, const char *domain)
{
    if (!strcmp(domain, "docker.io")) {
        static const char *const hub[] = {"docker.io", "index.docker.io", "registry-1.docker.io",
                                          "https://index.docker.io/v1/",
                                          "https://index.docker.io/v2/"};
        for (size_t i = 0; i < ARRAY_SIZE(hub); i++)
            if (!strcmp(key, hub[i]))
                return true;
        return false;
    }
    /* "https://host:port/..." or "host:port" */
    const char *k = key;
    if (!strncmp(k, "https://", 8))
        k += 8;
    else if (!strncmp(k, "http://", 7))
        k += 7;
    size_t n = strcspn(k, "/");
    return n == strlen(domain) && !strncmp(k, domain, n);
}

int img_credentials_lookup(const char *data_dir, const char *domain, char **ret_user,
                           char **ret_password, struct error **err)
{
    _cleanup_free_ char *path = xasprintf("%s/config.json", data_dir);
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        if (access(path, F_OK) < 0 && errno == ENOENT)
            return -ENOENT;
        return error_set(err, EINVAL, NULL, "%s: %s", path, jerr.text);
    }
    int r = -ENOENT;
    const char *key;
    json_t *v;
    json_object_foreach(json_get_object(doc, "auths"), key, v)
    {
        if (!auth_key_matches(key, domain) || !json_is_object(v))
            continue;
        const char *auth = json_get_str(v, "auth");
        const char *user = json_get_str(v, "username");
        const char *pass = json_get_str(v, "password");
        if (auth && *auth) {
            size_t n = strlen(auth);
            if (n > 8192) {
                r = error_set(err, EINVAL, NULL, "%s: auth for %s is too long", path, key);
                break;
            }
            _cleanup_free_ unsigned char *dec = xmalloc(n + 4);
            int m = EVP_DecodeBlock(dec, (const unsigned char *)auth, (int)n);
            /* EVP_DecodeBlock counts '=' padding as zero bytes */
            while (m > 0 && n > 0 && auth[n - 1] == '=')
                m--, n--;
            char *colon = m > 0 ? memchr(dec, ':', (size_t)m) : NULL;
            if (!colon) {
                r = error_set(err, EINVAL, NULL, "%s: auth for %s is not base64(user:password)",
                              path, key);
                break;
            }
            *ret_user = xstrndup((char *)dec, (size_t)(colon - (char *)dec));
            *ret_password = xstrndup(colon + 1, (size_t)(m - (colon + 1 - (char *)dec)));
            r = 0;
            break;
        }
        if (user && pass) {
            *ret_user = xstrdup(user);
            *ret_password = xstrdup(pass);
            r = 0;
            break;
        }
    }
    json_decref(doc);
    return r;
}
