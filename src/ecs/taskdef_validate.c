/* Task definition validation (placeholder until the task definition work lands). */
#include "ecs/ecs-internal.h"
