/* skiff's image API (PullImage, ListImages, DescribeImages, DeleteImage,
 * PruneImages, ImportImage, DescribeImageStore) as an api_service for
 * api_server_register(). Needs img_init(DATA-DIR) first. */
#pragma once

#include "api/api.h"
#include "image/image.h"

extern const struct api_service image_api;
