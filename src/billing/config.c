/* INI reader for the billing configuration. Keys dispatch through tables,
 * one per section kind. */
#include "billing/config.h"
#include "billing/money.h"
#include "base/cleanup.h"
#include "base/error.h"
#include "base/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LINE_MAX_BYTES 1024

enum section {
    SEC_NONE,
    SEC_OPTIONS,
    SEC_PRICES,
    SEC_INSTANCE,
};

/* An [instance NAME] section being read. */
struct pending_instance {
    char name[BILLING_INSTANCE_NAME];
    enum billing_arch arch;
    int32_t vcpus, memory_mib, baseline_percent;
    int64_t hour_nd;
    unsigned seen; /* PI_* bits */
};

enum {
    PI_ARCH = 1 << 0,
    PI_VCPUS = 1 << 1,
    PI_MEMORY = 1 << 2,
    PI_HOURLY = 1 << 3,
};

struct parser {
    struct billing_config cfg;
    enum section sec;
    bool have_instances; /* the file's table replaces the defaults */
    bool have_dated;     /* a dated [prices] section was seen */
    struct pending_instance inst;
    int line;
};

static int parse_int(const char *v, int32_t lo, int32_t hi, int32_t *ret)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi)
        return -EINVAL;
    *ret = (int32_t)n;
    return 0;
}

static int two(const char *s, int *v)
{
    if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]))
        return -1;
    *v = (s[0] - '0') * 10 + (s[1] - '0');
    return 0;
}

/* "YYYY-MM-DD" (midnight UTC) or "YYYY-MM-DDTHH:MM:SSZ". */
static int parse_time(const char *s, int64_t *ret_ms)
{
    size_t len = strlen(s);
    int c1, c2, mo, d, h = 0, mi = 0, se = 0;
    if ((len != 10 && len != 20) || two(s, &c1) || two(s + 2, &c2) || s[4] != '-' ||
        two(s + 5, &mo) || s[7] != '-' || two(s + 8, &d))
        return -EINVAL;
    if (len == 20 && (s[10] != 'T' || two(s + 11, &h) || s[13] != ':' || two(s + 14, &mi) ||
                      s[16] != ':' || two(s + 17, &se) || s[19] != 'Z'))
        return -EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59)
        return -EINVAL;
    struct tm tm = {.tm_year = c1 * 100 + c2 - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = se};
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_mday != d) /* timegm normalises 31 April */
        return -EINVAL;
    *ret_ms = (int64_t)t * 1000;
    return 0;
}

/* --- [options] --- */

static int opt_headroom(struct parser *p, const char *v)
{
    return parse_int(v, 0, 1000, &p->cfg.headroom_percent);
}

static int opt_granularity(struct parser *p, const char *v)
{
    return parse_int(v, 1, 86400, &p->cfg.granularity_s);
}

static const struct {
    const char *key;
    int (*set)(struct parser *p, const char *v);
} option_keys[] = {
    {"headroom_percent", opt_headroom},
    {"granularity_seconds", opt_granularity},
};

/* --- [prices] --- */

static const struct {
    const char *suffix;
    size_t offset; /* into struct billing_rate */
} price_keys[] = {
    {"vcpu_hour", offsetof(struct billing_rate, vcpu_hour_nd)},
    {"gb_hour", offsetof(struct billing_rate, gb_hour_nd)},
    {"storage_gb_hour", offsetof(struct billing_rate, storage_gb_hour_nd)},
};

static int set_price(struct parser *p, const char *key, const char *v, struct error **err)
{
    const char *dot = strchr(key, '.');
    if (!dot)
        return error_set(err, EINVAL, ERR_INVALID, "line %d: unknown key %s", p->line, key);
    char arch_name[16];
    size_t alen = (size_t)(dot - key);
    if (alen >= sizeof(arch_name))
        return error_set(err, EINVAL, ERR_INVALID, "line %d: unknown key %s", p->line, key);
    memcpy(arch_name, key, alen);
    arch_name[alen] = '\0';
    enum billing_arch arch;
    if (billing_arch_parse(arch_name, &arch) < 0)
        return error_set(err, EINVAL, ERR_INVALID, "line %d: unknown architecture %s", p->line,
                         arch_name);
    for (size_t i = 0; i < ARRAY_SIZE(price_keys); i++) {
        if (strcmp(dot + 1, price_keys[i].suffix) != 0)
            continue;
        int64_t nd;
        int r = billing_money_parse(v, &nd);
        if (r < 0)
            return error_set(err, -r, ERR_INVALID,
                             "line %d: %s: \"%s\" is not a dollar amount (up to 9 decimals)",
                             p->line, key, v);
        struct billing_schedule *s = &p->cfg.schedule;
        struct billing_rate *rate = &s->periods[s->n - 1].prices.arch[arch];
        *(int64_t *)((char *)rate + price_keys[i].offset) = nd;
        return 0;
    }
    return error_set(err, EINVAL, ERR_INVALID, "line %d: unknown key %s", p->line, key);
}

/* --- [instance NAME] --- */

static int inst_arch(struct parser *p, const char *v)
{
    p->inst.seen |= PI_ARCH;
    return billing_arch_parse(v, &p->inst.arch);
}

static int inst_vcpus(struct parser *p, const char *v)
{
    p->inst.seen |= PI_VCPUS;
    return parse_int(v, 1, 1024, &p->inst.vcpus);
}

static int inst_memory_mib(struct parser *p, const char *v)
{
    p->inst.seen |= PI_MEMORY;
    return parse_int(v, 1, 64 << 20, &p->inst.memory_mib);
}

static int inst_memory_gib(struct parser *p, const char *v)
{
    /* Decimal GiB ("0.5") through the exact decimal reader: nano-units. */
    int64_t n;
    int r = billing_money_parse(v, &n);
    if (r < 0)
        return r;
    int64_t mib = n * 1024 / BILLING_ND_PER_DOLLAR;
    if (mib * BILLING_ND_PER_DOLLAR != n * 1024 || mib < 1 || mib > (64 << 20))
        return -EINVAL;
    p->inst.seen |= PI_MEMORY;
    p->inst.memory_mib = (int32_t)mib;
    return 0;
}

static int inst_hourly(struct parser *p, const char *v)
{
    p->inst.seen |= PI_HOURLY;
    return billing_money_parse(v, &p->inst.hour_nd);
}

static int inst_baseline(struct parser *p, const char *v)
{
    return parse_int(v, 1, 100, &p->inst.baseline_percent);
}

static const struct {
    const char *key;
    int (*set)(struct parser *p, const char *v);
} instance_keys[] = {
    {"arch", inst_arch},
    {"vcpus", inst_vcpus},
    {"memory_gib", inst_memory_gib},
    {"memory_mib", inst_memory_mib},
    {"hourly", inst_hourly},
    {"baseline_percent", inst_baseline},
};

static int finish_instance(struct parser *p, struct error **err)
{
    if (p->sec != SEC_INSTANCE)
        return 0;
    unsigned need = PI_ARCH | PI_VCPUS | PI_MEMORY | PI_HOURLY;
    if ((p->inst.seen & need) != need)
        return error_set(err, EINVAL, ERR_INVALID,
                         "instance %s needs arch, vcpus, memory_gib (or memory_mib) and hourly",
                         p->inst.name);
    int r = billing_instance_table_add(&p->cfg.instances, p->inst.name, p->inst.arch, p->inst.vcpus,
                                       p->inst.memory_mib, p->inst.baseline_percent,
                                       p->inst.hour_nd, err);
    return r < 0 ? error_wrap(err, "billing config") : 0;
}

/* --- lines --- */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int section_line(struct parser *p, char *s, struct error **err)
{
    int r = finish_instance(p, err);
    if (r < 0)
        return r;
    size_t len = strlen(s);
    if (s[len - 1] != ']')
        return error_set(err, EINVAL, ERR_INVALID, "line %d: unterminated section header", p->line);
    s[len - 1] = '\0';
    char *name = trim(s + 1);
    char *arg = name + strcspn(name, " \t");
    if (*arg)
        *arg++ = '\0';
    arg = trim(arg);

    if (strcmp(name, "options") == 0 && !*arg) {
        p->sec = SEC_OPTIONS;
    } else if (strcmp(name, "prices") == 0) {
        p->sec = SEC_PRICES;
        if (!*arg) {
            if (p->have_dated)
                return error_set(err, EINVAL, ERR_INVALID,
                                 "line %d: [prices] must come before dated price sections",
                                 p->line);
            return 0;
        }
        int64_t from_ms;
        if (parse_time(arg, &from_ms) < 0)
            return error_set(err, EINVAL, ERR_INVALID,
                             "line %d: \"%s\" is not YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ", p->line,
                             arg);
        struct billing_schedule *sc = &p->cfg.schedule;
        struct billing_prices prev = sc->periods[sc->n - 1].prices;
        r = billing_schedule_add(sc, from_ms, &prev, err);
        if (r < 0)
            return error_wrap(err, "line %d", p->line);
        p->have_dated = true;
    } else if (strcmp(name, "instance") == 0 && *arg) {
        if (!p->have_instances)
            p->cfg.instances.n = 0;
        p->have_instances = true;
        p->sec = SEC_INSTANCE;
        memset(&p->inst, 0, sizeof(p->inst));
        p->inst.baseline_percent = 100;
        if (strlen(arg) >= sizeof(p->inst.name))
            return error_set(err, EINVAL, ERR_INVALID, "line %d: instance name too long", p->line);
        strcpy(p->inst.name, arg);
    } else {
        return error_set(err, EINVAL, ERR_INVALID, "line %d: unknown section [%s%s%s]", p->line,
                         name, *arg ? " " : "", arg);
    }
    return 0;
}

static int key_line(struct parser *p, char *s, struct error **err)
{
    char *eq = strchr(s, '=');
    if (!eq)
        return error_set(err, EINVAL, ERR_INVALID, "line %d: expected key = value", p->line);
    *eq = '\0';
    char *key = trim(s), *v = trim(eq + 1);
    int r = -ENOENT;
    switch (p->sec) {
    case SEC_NONE:
        return error_set(err, EINVAL, ERR_INVALID, "line %d: %s outside a section", p->line, key);
    case SEC_PRICES:
        return set_price(p, key, v, err);
    case SEC_OPTIONS:
        for (size_t i = 0; i < ARRAY_SIZE(option_keys); i++)
            if (strcmp(key, option_keys[i].key) == 0)
                r = option_keys[i].set(p, v);
        break;
    case SEC_INSTANCE:
        for (size_t i = 0; i < ARRAY_SIZE(instance_keys); i++)
            if (strcmp(key, instance_keys[i].key) == 0)
                r = instance_keys[i].set(p, v);
        break;
    }
    if (r == -ENOENT)
        return error_set(err, EINVAL, ERR_INVALID, "line %d: unknown key %s", p->line, key);
    if (r < 0)
        return error_set(err, EINVAL, ERR_INVALID, "line %d: %s: invalid value \"%s\"", p->line,
                         key, v);
    return 0;
}

void billing_config_init(struct billing_config *c)
{
    billing_schedule_init(&c->schedule);
    billing_instance_table_default(&c->instances);
    c->headroom_percent = BILLING_HEADROOM_DEFAULT;
    c->granularity_s = BILLING_GRANULARITY_DEFAULT;
}

void billing_config_done(struct billing_config *c)
{
    billing_schedule_done(&c->schedule);
}

int billing_config_parse(struct billing_config *c, const char *text, size_t len, struct error **err)
{
    if (len > BILLING_CONFIG_MAX_BYTES)
        return error_set(err, E2BIG, ERR_INVALID, "billing config larger than %d bytes",
                         BILLING_CONFIG_MAX_BYTES);
    struct parser p = {.sec = SEC_NONE};
    billing_config_init(&p.cfg);
    int r = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        p.line++;
        if (n >= LINE_MAX_BYTES) {
            r = error_set(err, E2BIG, ERR_INVALID, "line %d: longer than %d bytes", p.line,
                          LINE_MAX_BYTES);
            goto fail;
        }
        char buf[LINE_MAX_BYTES];
        memcpy(buf, text + pos, n);
        buf[n] = '\0';
        pos += n + 1;
        if (memchr(buf, '\0', n)) {
            r = error_set(err, EINVAL, ERR_INVALID, "line %d: NUL byte", p.line);
            goto fail;
        }
        char *s = trim(buf);
        if (!*s || *s == '#' || *s == ';')
            continue;
        r = *s == '[' ? section_line(&p, s, err) : key_line(&p, s, err);
        if (r < 0)
            goto fail;
    }
    r = finish_instance(&p, err);
    if (r < 0)
        goto fail;
    if (p.have_instances && p.cfg.instances.n == 0) {
        r = error_set(err, EINVAL, ERR_INVALID, "billing config: empty instance table");
        goto fail;
    }
    billing_config_done(c);
    *c = p.cfg;
    return 0;
fail:
    billing_config_done(&p.cfg);
    return r;
}

int billing_config_load(struct billing_config *c, const char *path, struct error **err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "open %s", path);
    _cleanup_free_ char *data = xmalloc(BILLING_CONFIG_MAX_BYTES + 1);
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, data + len, BILLING_CONFIG_MAX_BYTES + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_errno(err, errno, "read %s", path);
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > BILLING_CONFIG_MAX_BYTES)
            return error_set(err, E2BIG, ERR_INVALID, "%s: larger than %d bytes", path,
                             BILLING_CONFIG_MAX_BYTES);
    }
    int r = billing_config_parse(c, data, len, err);
    if (r < 0)
        return error_wrap(err, "%s", path);
    return 0;
}
