/* The Fargate size table. */
#include "billing/size.h"

static const int32_t cpus[] = {256, 512, 1024, 2048, 4096, 8192, 16384};

/* Memory choices per cpu value: min..max by step; 256's list is irregular
 * (512, 1024, 2048), which min 512, max 2048 and "doubling" express. */
static const struct {
    int32_t cpu, min, max, step; /* step 0: doubling */
} rows[] = {
    {256, 512, 2048, 0},          {512, 1024, 4096, 1024},   {1024, 2048, 8192, 1024},
    {2048, 4096, 16384, 1024},    {4096, 8192, 30720, 1024}, {8192, 16384, 61440, 4096},
    {16384, 32768, 122880, 8192},
};

static int32_t next_memory(size_t r, int32_t m)
{
    return rows[r].step ? m + rows[r].step : m * 2;
}

static int row_of(int32_t cpu_units)
{
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++)
        if (rows[r].cpu == cpu_units)
            return (int)r;
    return -1;
}

int32_t billing_size_fit_memory(int32_t cpu_units, int32_t memory_mib)
{
    int r = row_of(cpu_units);
    if (r < 0)
        return -1;
    for (int32_t m = rows[r].min; m <= rows[r].max; m = next_memory(r, m))
        if (m >= memory_mib)
            return m;
    return -1;
}

bool billing_size_valid(int32_t cpu_units, int32_t memory_mib)
{
    return memory_mib > 0 && billing_size_fit_memory(cpu_units, memory_mib) == memory_mib;
}

size_t billing_size_list(struct billing_size *out, size_t cap)
{
    size_t n = 0;
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        for (int32_t m = rows[r].min; m <= rows[r].max; m = next_memory(r, m)) {
            if (n < cap)
                out[n] = (struct billing_size){rows[r].cpu, m};
            n++;
        }
    }
    return n;
}

size_t billing_size_cpus(const int32_t **ret)
{
    *ret = cpus;
    return sizeof(cpus) / sizeof(cpus[0]);
}
