/* The ECS API surface (AmazonEC2ContainerServiceV20141113), shapes from the
 * botocore ecs 2014-11-13 model. */
#pragma once

#include "api/api.h"

extern const struct api_service ecs_api;
