/* skiff's metering operation (GetCostReport): AWS JSON 1.1 under
 * X-Amz-Target SkiffV20261101.*, beside the image operations
 * (models/skiff/2026-11-01/service-2.json). */
#include "metering/metering_api.h"
#include "api/accounts.h"
#include "base/cleanup.h"
#include "base/json.h"

#include <errno.h>

extern const char skiff_model_json[];

static const struct metering *api_metering;

void metering_api_init(const struct metering *m)
{
    api_metering = m;
}

/* A model timestamp (seconds, possibly fractional) in ms; 0 when absent. */
static int64_t time_member(const json_t *in, const char *key)
{
    json_t *v = json_object_get(in, key);
    return json_is_number(v) ? (int64_t)(json_number_value(v) * 1000.0 + 0.5) : 0;
}

static int get_cost_report(struct api_ctx *ctx, const json_t *in, json_t **ret, struct error **err)
{
    struct metering_query q = {
        .account = ctx->account->account_id,
        .since_ms = time_member(in, "since"),
        .until_ms = time_member(in, "until"),
        .now_ms = ctx->now_ms,
    };
    const char *by = json_get_str(in, "groupBy");
    if (metering_group_parse(by ? by : "cluster", &q.by, &q.tag_key) < 0)
        return error_set(err, EINVAL, ERR_INVALID,
                         "groupBy is cluster, service, family, task or tag:KEY, not '%s'", by);
    if (q.since_ms < 0 || q.until_ms < 0)
        return error_set(err, EINVAL, ERR_INVALID, "since and until must be after 1970");
    return metering_report(api_metering, ctx->db, &q, ret, err);
}

static const struct api_op ops[] = {
    {"GetCostReport", get_cost_report, 0},
};

const struct api_service metering_api = {
    .name = "skiff-metering",
    .signing_name = "skiff",
    .target_prefix = "SkiffV20261101",
    .model_json = skiff_model_json,
    .ops = ops,
    .n_ops = ARRAY_SIZE(ops),
};
