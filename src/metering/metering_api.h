/* skiff's metering API (GetCostReport) as an api_service for
 * api_server_register(). It shares the SkiffV20261101 prefix and model
 * with the image API (image/image_api.h); register both. */
#pragma once

#include "api/api.h"
#include "metering/metering.h"

extern const struct api_service metering_api;

/* The configuration GetCostReport prices with; call before the API
 * serves. m is borrowed and must outlive the API server. */
void metering_api_init(const struct metering *m);
