/* Amazon Resource Names: arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct arn {
    char partition[16];
    char service[32];
    char region[32];
    char account[16];
    char resource[1024]; /* everything after the fifth ':' */
};

/* Splits s into its parts; -EINVAL (leaving *out untouched) when s is NULL,
 * not an ARN, has an empty partition, service or resource, or a part too
 * long for its field. Region and account may be empty (IAM, S3). */
int arn_parse(const char *s, struct arn *out);
/* "arn:aws:SERVICE:REGION:ACCOUNT:RESOURCE" as a new string. */
char *arn_format(const char *service, const char *region, const char *account,
                 const char *resource);
/* True when s starts like an ARN ("arn:"). */
bool arn_is(const char *s);
