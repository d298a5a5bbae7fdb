/* Instance price table and its defaults. */
#include "billing/instance.h"
#include "base/error.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

/* us-east-1 on-demand Linux prices (USD per hour, in nano-dollars). Set a
 * deployment's own in the billing config; see docs/billing.md. */
static const struct {
    const char *name;
    enum billing_arch arch;
    int32_t vcpus, memory_gib, baseline_percent;
    int64_t hour_nd;
} defaults[] = {
    {"t4g.medium", BILLING_ARCH_ARM64, 2, 4, 20, 33600000},
    {"c7g.large", BILLING_ARCH_ARM64, 2, 4, 100, 72500000},
    {"m7g.large", BILLING_ARCH_ARM64, 2, 8, 100, 81600000},
    {"r7g.large", BILLING_ARCH_ARM64, 2, 16, 100, 107100000},
    {"c7g.xlarge", BILLING_ARCH_ARM64, 4, 8, 100, 145000000},
    {"m7g.xlarge", BILLING_ARCH_ARM64, 4, 16, 100, 163200000},
    {"m7g.2xlarge", BILLING_ARCH_ARM64, 8, 32, 100, 326400000},
    {"t3.medium", BILLING_ARCH_X86_64, 2, 4, 20, 41600000},
    {"c7i.large", BILLING_ARCH_X86_64, 2, 4, 100, 89250000},
    {"m7i.large", BILLING_ARCH_X86_64, 2, 8, 100, 100800000},
    {"r7i.large", BILLING_ARCH_X86_64, 2, 16, 100, 132300000},
    {"m7i.xlarge", BILLING_ARCH_X86_64, 4, 16, 100, 201600000},
    {"m7i.2xlarge", BILLING_ARCH_X86_64, 8, 32, 100, 403200000},
};

void billing_instance_table_default(struct billing_instance_table *t)
{
    t->n = 0;
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        billing_instance_table_add(t, defaults[i].name, defaults[i].arch, defaults[i].vcpus,
                                   defaults[i].memory_gib * 1024, defaults[i].baseline_percent,
                                   defaults[i].hour_nd, NULL);
}

int billing_instance_table_find(const struct billing_instance_table *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->types[i].name, name) == 0)
            return (int)i;
    return -1;
}

int billing_instance_table_add(struct billing_instance_table *t, const char *name,
                               enum billing_arch arch, int32_t vcpus, int32_t memory_mib,
                               int32_t baseline_percent, int64_t hour_nd, struct error **err)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len >= BILLING_INSTANCE_NAME)
        return error_set(err, EINVAL, ERR_INVALID, "instance type name must be 1..%d characters",
                         BILLING_INSTANCE_NAME - 1);
    for (size_t i = 0; i < len; i++)
        if (!isgraph((unsigned char)name[i]))
            return error_set(err, EINVAL, ERR_INVALID, "instance type name \"%s\" is not printable",
                             name);
    if (billing_instance_table_find(t, name) >= 0)
        return error_set(err, EINVAL, ERR_INVALID, "instance type %s listed twice", name);
    if ((unsigned)arch >= BILLING_ARCH_COUNT || vcpus < 1 || vcpus > 1024 || memory_mib < 1 ||
        memory_mib > (64 << 20) || baseline_percent < 1 || baseline_percent > 100 || hour_nd <= 0)
        return error_set(err, EINVAL, ERR_INVALID, "instance type %s: invalid size or price", name);
    if (t->n >= BILLING_INSTANCE_MAX)
        return error_set(err, E2BIG, ERR_INVALID, "more than %d instance types",
                         BILLING_INSTANCE_MAX);
    struct billing_instance_type *it = &t->types[t->n++];
    memset(it, 0, sizeof(*it));
    memcpy(it->name, name, len);
    it->arch = arch;
    it->vcpus = vcpus;
    it->memory_mib = memory_mib;
    it->cpu_units = (int32_t)((int64_t)vcpus * 1024 * baseline_percent / 100);
    it->hour_nd = hour_nd;
    return 0;
}
