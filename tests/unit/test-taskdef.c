/* Task definition validation and normalisation (ecs/taskdef_validate.c):
 * table-driven, request JSON in, error type and message fragment (or the
 * normalised document) out. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ecs/taskdef.h"
#include "base/cleanup.h"

/* ---- building requests ---- */

/* A valid minimal request (256 CPU, 512 MiB, one container "web"), with the
 * members of the `task` object text merged over it (a null member removes
 * one) and, when containers is non-NULL, containerDefinitions replaced by
 * that list text. */
static json_t *request(const char *task, const char *containers)
{
    json_error_t jerr;
    json_t *req =
        json_pack("{s:s, s:s, s:s, s:[{s:s, s:s}]}", "family", "web", "cpu", "256", "memory", "512",
                  "containerDefinitions", "name", "web", "image", "nginx:1.25");
    if (task) {
        json_t *o = json_loads(task, 0, &jerr);
        if (!o)
            fail_msg("bad task JSON in test: %s: %s", task, jerr.text);
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v)
        {
            if (json_is_null(v))
                json_object_del(req, k);
            else
                json_object_set(req, k, v);
        }
        json_decref(o);
    }
    if (containers) {
        json_t *c = json_loads(containers, 0, &jerr);
        if (!c)
            fail_msg("bad containers JSON in test: %s: %s", containers, jerr.text);
        json_object_set_new(req, "containerDefinitions", c);
    }
    return req;
}

/* ---- rule table ---- */

#define CLIENT  "ClientException"
#define INVALID "InvalidParameterException"

struct rule_case {
    const char *what;
    const char *task;       /* members merged into the base request */
    const char *containers; /* containerDefinitions, or NULL for the base one */
    const char *type;       /* expected error type; NULL = accepted */
    const char *fragment;   /* expected in the message */
};

#define C1(extra) "[{\"name\":\"web\",\"image\":\"nginx\"" extra "}]"
#define AWSLOGS                                                                                    \
    "\"logConfiguration\":{\"logDriver\":\"awslogs\",\"options\":{\"awslogs-group\":\"g\","        \
    "\"awslogs-region\":\"us-east-1\"}}"
#define HC ",\"healthCheck\":{\"command\":[\"CMD-SHELL\",\"true\"]}"

static const struct rule_case rules[] = {
    {"minimal definition", NULL, NULL, NULL, NULL},
    /* family */
    {"family with a space", "{\"family\":\"my web\"}", NULL, CLIENT, "Family name can have"},
    {"family with a dot", "{\"family\":\"web.v2\"}", NULL, CLIENT, "Family name can have"},
    {"family empty", "{\"family\":\"\"}", NULL, CLIENT, "Family should not be null or empty"},
    {"family missing", "{\"family\":null}", NULL, CLIENT, "Family should not be null"},
    {"family of 255",
     "{\"family\":\"a234567890123456789012345678901234567890123456789012345678"
     "90123456789012345678901234567890123456789012345678901234567890123456789012"
     "34567890123456789012345678901234567890123456789012345678901234567890123456"
     "7890123456789012345678901234567890123456789012345\"}",
     NULL, NULL, NULL},
    {"family of 256",
     "{\"family\":\"a234567890123456789012345678901234567890123456789012345678"
     "90123456789012345678901234567890123456789012345678901234567890123456789012"
     "34567890123456789012345678901234567890123456789012345678901234567890123456"
     "78901234567890123456789012345678901234567890123456\"}",
     NULL, CLIENT, "Family name can have"},
    {"family with - and _", "{\"family\":\"My-web_2\"}", NULL, NULL, NULL},
    /* container list */
    {"no containers", NULL, "[]", CLIENT, "Container list cannot be empty."},
    {"containers not a list", NULL, "{}", INVALID, "containerDefinitions must be a list"},
    {"container not an object", NULL, "[1]", INVALID, "must be an object"},
    {"eleven containers", NULL,
     "[{\"name\":\"a1\",\"image\":\"i\"},{\"name\":\"a2\",\"image\":\"i\"},{\"name\":\"a3\","
     "\"image\":\"i\"},{\"name\":\"a4\",\"image\":\"i\"},{\"name\":\"a5\",\"image\":\"i\"},"
     "{\"name\":\"a6\",\"image\":\"i\"},{\"name\":\"a7\",\"image\":\"i\"},{\"name\":\"a8\","
     "\"image\":\"i\"},{\"name\":\"a9\",\"image\":\"i\"},{\"name\":\"a10\",\"image\":\"i\"},"
     "{\"name\":\"a11\",\"image\":\"i\"}]",
     CLIENT, "at most 10"},
    /* compatibilities, network mode, platform */
    {"requires FARGATE", "{\"requiresCompatibilities\":[\"FARGATE\"]}", NULL, NULL, NULL},
    {"requires EC2 and FARGATE", "{\"requiresCompatibilities\":[\"EC2\",\"FARGATE\"]}", NULL, NULL,
     NULL},
    {"requires EXTERNAL", "{\"requiresCompatibilities\":[\"EXTERNAL\"]}", NULL, CLIENT,
     "EXTERNAL is not supported"},
    {"networkMode awsvpc", "{\"networkMode\":\"awsvpc\"}", NULL, NULL, NULL},
    {"networkMode bridge", "{\"networkMode\":\"bridge\",\"requiresCompatibilities\":[\"FARGATE\"]}",
     NULL, CLIENT, "Fargate only supports network mode 'awsvpc'"},
    {"networkMode host", "{\"networkMode\":\"host\"}", NULL, CLIENT, "network mode 'awsvpc'"},
    {"networkMode none", "{\"networkMode\":\"none\"}", NULL, CLIENT, "network mode 'awsvpc'"},
    {"Linux ARM64",
     "{\"runtimePlatform\":{\"cpuArchitecture\":\"ARM64\","
     "\"operatingSystemFamily\":\"LINUX\"}}",
     NULL, NULL, NULL},
    {"Windows", "{\"runtimePlatform\":{\"operatingSystemFamily\":\"WINDOWS_SERVER_2022_CORE\"}}",
     NULL, CLIENT, "Linux containers only"},
    /* task size */
    {"cpu missing", "{\"cpu\":null}", NULL, CLIENT,
     "Fargate requires that 'cpu' be defined at the task level."},
    {"memory missing", "{\"memory\":null}", NULL, CLIENT,
     "Fargate requires that 'memory' be defined at the task level."},
    {"cpu garbage", "{\"cpu\":\"lots\"}", NULL, CLIENT, "Invalid 'cpu' setting for task."},
    {"cpu empty", "{\"cpu\":\"\"}", NULL, CLIENT, "Invalid 'cpu' setting for task."},
    {"cpu negative", "{\"cpu\":\"-256\"}", NULL, CLIENT, "Invalid 'cpu' setting for task."},
    {"cpu fraction of a unit", "{\"cpu\":\"0.1 vCPU\"}", NULL, CLIENT,
     "Invalid 'cpu' setting for task."},
    {"cpu decimal without unit", "{\"cpu\":\"0.25\"}", NULL, CLIENT,
     "Invalid 'cpu' setting for task."},
    {"memory in TB", "{\"memory\":\"1 TB\"}", NULL, CLIENT, "Invalid 'memory' setting for task."},
    {"memory zero", "{\"memory\":\"0\"}", NULL, CLIENT, "Invalid 'memory' setting for task."},
    {"256 CPU with 4096 MiB", "{\"memory\":\"4096\"}", NULL, CLIENT,
     "No Fargate configuration exists for given values: 256 CPU, 4096 memory."},
    {"128 CPU", "{\"cpu\":\"128\"}", NULL, CLIENT,
     "No Fargate configuration exists for given values: 128 CPU, 512 memory."},
    {"1 vCPU with 1 GB", "{\"cpu\":\"1 vCPU\",\"memory\":\"1 GB\"}", NULL, CLIENT,
     "given values: 1024 CPU, 1024 memory"},
    {"32 vCPU", "{\"cpu\":\"32 vCPU\",\"memory\":\"64GB\"}", NULL, CLIENT,
     "given values: 32768 CPU, 65536 memory"},
    /* task-level options */
    {"ephemeral 21", "{\"ephemeralStorage\":{\"sizeInGiB\":21}}", NULL, NULL, NULL},
    {"ephemeral 200", "{\"ephemeralStorage\":{\"sizeInGiB\":200}}", NULL, NULL, NULL},
    {"ephemeral 20", "{\"ephemeralStorage\":{\"sizeInGiB\":20}}", NULL, CLIENT,
     "between 21 and 200"},
    {"ephemeral 201", "{\"ephemeralStorage\":{\"sizeInGiB\":201}}", NULL, CLIENT,
     "between 21 and 200"},
    {"pidMode task", "{\"pidMode\":\"task\"}", NULL, NULL, NULL},
    {"pidMode host", "{\"pidMode\":\"host\"}", NULL, CLIENT, "do not support pidMode 'host'"},
    {"ipcMode", "{\"ipcMode\":\"task\"}", NULL, CLIENT, "do not support ipcMode"},
    {"placement constraints", "{\"placementConstraints\":[{\"type\":\"memberOf\"}]}", NULL, CLIENT,
     "do not support placementConstraints"},
    {"empty placement constraints", "{\"placementConstraints\":[]}", NULL, NULL, NULL},
    {"inference accelerators",
     "{\"inferenceAccelerators\":[{\"deviceName\":\"d\",\"deviceType\":\"eia2.medium\"}]}", NULL,
     CLIENT, "do not support inferenceAccelerators"},
    {"proxy configuration", "{\"proxyConfiguration\":{\"containerName\":\"web\"}}", NULL, CLIENT,
     "proxyConfiguration"},
    {"task role ARN", "{\"taskRoleArn\":\"arn:aws:iam::123456789012:role/app\"}", NULL, NULL, NULL},
    {"task role not IAM", "{\"taskRoleArn\":\"arn:aws:s3:::bucket\"}", NULL, CLIENT,
     "Invalid arn syntax for 'taskRoleArn'"},
    {"execution role garbage ARN", "{\"executionRoleArn\":\"arn:nope\"}", NULL, CLIENT,
     "Invalid arn syntax for 'executionRoleArn'"},
    /* volumes */
    {"name-only volume", "{\"volumes\":[{\"name\":\"scratch\"}]}", NULL, NULL, NULL},
    {"host volume without path", "{\"volumes\":[{\"name\":\"scratch\",\"host\":{}}]}", NULL, NULL,
     NULL},
    {"volume without name", "{\"volumes\":[{\"host\":{}}]}", NULL, CLIENT,
     "Volume.name should not be null"},
    {"volume bad name", "{\"volumes\":[{\"name\":\"a b\"}]}", NULL, CLIENT,
     "Invalid volume name 'a b'"},
    {"duplicate volume", "{\"volumes\":[{\"name\":\"v\"},{\"name\":\"v\"}]}", NULL, CLIENT,
     "Duplicate volume name 'v'"},
    {"host volume with path", "{\"volumes\":[{\"name\":\"v\",\"host\":{\"sourcePath\":\"/etc\"}}]}",
     NULL, CLIENT, "host volumes with a sourcePath"},
    {"EFS volume",
     "{\"volumes\":[{\"name\":\"v\",\"efsVolumeConfiguration\":{\"fileSystemId\":"
     "\"fs-1\"}}]}",
     NULL, CLIENT, "does not support efsVolumeConfiguration"},
    {"docker volume", "{\"volumes\":[{\"name\":\"v\",\"dockerVolumeConfiguration\":{}}]}", NULL,
     CLIENT, "does not support dockerVolumeConfiguration"},
    /* container identity */
    {"container name missing", NULL, "[{\"image\":\"nginx\"}]", CLIENT,
     "Container.name should not be null or empty."},
    {"container name bad", NULL, "[{\"name\":\"web/1\",\"image\":\"nginx\"}]", CLIENT,
     "Invalid container name 'web/1'"},
    {"container names unique", NULL,
     "[{\"name\":\"web\",\"image\":\"nginx\"},{\"name\":\"web\",\"image\":\"nginx\"}]", CLIENT,
     "Duplicate container name 'web'"},
    {"image missing", NULL, "[{\"name\":\"web\"}]", CLIENT, "Container.image should not be null"},
    {"image empty", NULL, "[{\"name\":\"web\",\"image\":\"\"}]", CLIENT,
     "Container.image should not be null"},
    {"image with a space", NULL, "[{\"name\":\"web\",\"image\":\"nginx latest\"}]", CLIENT,
     "Invalid 'image' setting for container 'web'"},
    /* unsupported container parameters */
    {"privileged", NULL, C1(",\"privileged\":true"), CLIENT,
     "Fargate does not support privileged containers (container 'web')"},
    {"privileged false", NULL, C1(",\"privileged\":false"), NULL, NULL},
    {"links", NULL, C1(",\"links\":[\"db\"]"), CLIENT,
     "'links' parameter is not supported when networkMode=awsvpc"},
    {"empty links", NULL, C1(",\"links\":[]"), NULL, NULL},
    {"hostname", NULL, C1(",\"hostname\":\"h\""), CLIENT, "'hostname' parameter is not supported"},
    {"dnsServers", NULL, C1(",\"dnsServers\":[\"1.1.1.1\"]"), CLIENT, "'dnsServers' parameter"},
    {"dnsSearchDomains", NULL, C1(",\"dnsSearchDomains\":[\"x\"]"), CLIENT,
     "'dnsSearchDomains' parameter"},
    {"extraHosts", NULL, C1(",\"extraHosts\":[{\"hostname\":\"a\",\"ipAddress\":\"1.2.3.4\"}]"),
     CLIENT, "'extraHosts' parameter"},
    {"dockerSecurityOptions", NULL, C1(",\"dockerSecurityOptions\":[\"no-new-privileges\"]"),
     CLIENT, "'dockerSecurityOptions' parameter is not supported on Fargate"},
    {"GPU", NULL, C1(",\"resourceRequirements\":[{\"type\":\"GPU\",\"value\":\"1\"}]"), CLIENT,
     "'resourceRequirements' parameter"},
    {"firelens", NULL, C1(",\"firelensConfiguration\":{\"type\":\"fluentbit\"}"), CLIENT,
     "awslogs log driver"},
    {"environmentFiles", NULL,
     C1(",\"environmentFiles\":[{\"value\":\"arn:aws:s3:::b/f.env\",\"type\":\"s3\"}]"), CLIENT,
     "'environmentFiles' parameter"},
    /* container resources */
    {"container memory 6", NULL, C1(",\"memory\":6"), NULL, NULL},
    {"container memory 5", NULL, C1(",\"memory\":5"), CLIENT,
     "Invalid 'memory' setting for container 'web': the minimum is 6 MiB"},
    {"container reservation 4", NULL, C1(",\"memoryReservation\":4"), CLIENT,
     "Invalid 'memoryReservation' setting for container 'web'"},
    {"reservation above memory", NULL, C1(",\"memory\":128,\"memoryReservation\":256"), CLIENT,
     "'memoryReservation' must be less than or equal to 'memory'"},
    {"reservation equal memory", NULL, C1(",\"memory\":128,\"memoryReservation\":128"), NULL, NULL},
    {"container cpu negative", NULL, C1(",\"cpu\":-1"), CLIENT,
     "Invalid 'cpu' setting for container 'web'"},
    {"container memory equals task", NULL, C1(",\"memory\":512"), NULL, NULL},
    {"container memory above task", NULL, C1(",\"memory\":513"), CLIENT,
     "sum of all container 'memory' values cannot be greater than the value of the task"},
    {"container memory sum above task", NULL,
     "[{\"name\":\"a\",\"image\":\"i\",\"memory\":256},{\"name\":\"b\",\"image\":\"i\",\"memory\":"
     "257}]",
     CLIENT, "sum of all container 'memory' values"},
    {"reservation sum above task", NULL,
     "[{\"name\":\"a\",\"image\":\"i\",\"memoryReservation\":300},{\"name\":\"b\",\"image\":\"i\","
     "\"memoryReservation\":300}]",
     CLIENT, "sum of all container 'memoryReservation' values"},
    {"reservation sum counts hard limits", NULL,
     "[{\"name\":\"a\",\"image\":\"i\",\"memory\":300},{\"name\":\"b\",\"image\":\"i\","
     "\"memoryReservation\":300}]",
     CLIENT, "sum of all container 'memoryReservation' values"},
    {"container cpu equals task", NULL, C1(",\"cpu\":256"), NULL, NULL},
    {"container cpu sum above task", NULL,
     "[{\"name\":\"a\",\"image\":\"i\",\"cpu\":128},{\"name\":\"b\",\"image\":\"i\",\"cpu\":129}]",
     CLIENT, "sum of all container 'cpu' values cannot be greater than the value of the task"},
    /* essential */
    {"no essential container", NULL, C1(",\"essential\":false"), CLIENT,
     "at least one essential container"},
    {"one essential of two", NULL,
     "[{\"name\":\"a\",\"image\":\"i\",\"essential\":false},{\"name\":\"b\",\"image\":\"i\"}]",
     NULL, NULL},
    /* port mappings */
    {"port without hostPort", NULL, C1(",\"portMappings\":[{\"containerPort\":80}]"), NULL, NULL},
    {"port with equal hostPort", NULL,
     C1(",\"portMappings\":[{\"containerPort\":80,\"hostPort\":80}]"), NULL, NULL},
    {"port with hostPort 0", NULL, C1(",\"portMappings\":[{\"containerPort\":80,\"hostPort\":0}]"),
     NULL, NULL},
    {"port with other hostPort", NULL,
     C1(",\"portMappings\":[{\"containerPort\":80,\"hostPort\":8080}]"), CLIENT,
     "When networkMode=awsvpc, the host ports and container ports in port mappings must match."},
    {"containerPort missing", NULL, C1(",\"portMappings\":[{\"hostPort\":80}]"), CLIENT,
     "Invalid 'containerPort' setting for container 'web'."},
    {"containerPort 0", NULL, C1(",\"portMappings\":[{\"containerPort\":0}]"), CLIENT,
     "Invalid 'containerPort' setting"},
    {"containerPort 65536", NULL, C1(",\"portMappings\":[{\"containerPort\":65536}]"), CLIENT,
     "Invalid 'containerPort' setting"},
    {"containerPort 65535", NULL, C1(",\"portMappings\":[{\"containerPort\":65535}]"), NULL, NULL},
    {"duplicate port", NULL,
     C1(",\"portMappings\":[{\"containerPort\":80},{\"containerPort\":80,\"protocol\":\"tcp\"}]"),
     CLIENT, "Port 80/tcp is mapped more than once"},
    {"same port tcp and udp", NULL,
     C1(",\"portMappings\":[{\"containerPort\":53},{\"containerPort\":53,\"protocol\":\"udp\"}]"),
     NULL, NULL},
    {"same port in two containers", NULL,
     "[{\"name\":\"a\",\"image\":\"i\",\"portMappings\":[{\"containerPort\":80}]},{\"name\":\"b\","
     "\"image\":\"i\",\"portMappings\":[{\"containerPort\":80}]}]",
     CLIENT, "Port 80/tcp is mapped more than once in the task (container 'b')"},
    /* health checks */
    {"health check CMD-SHELL", NULL, C1(HC), NULL, NULL},
    {"health check CMD", NULL, C1(",\"healthCheck\":{\"command\":[\"CMD\",\"/bin/true\"]}"), NULL,
     NULL},
    {"health check NONE", NULL, C1(",\"healthCheck\":{\"command\":[\"NONE\"]}"), NULL, NULL},
    {"health check empty command", NULL, C1(",\"healthCheck\":{\"command\":[]}"), CLIENT,
     "must start with CMD, CMD-SHELL or NONE"},
    {"health check bare command", NULL, C1(",\"healthCheck\":{\"command\":[\"curl\",\"x\"]}"),
     CLIENT, "must start with CMD, CMD-SHELL or NONE"},
    {"health check CMD alone", NULL, C1(",\"healthCheck\":{\"command\":[\"CMD\"]}"), CLIENT,
     "CMD needs a command"},
    {"health check NONE with args", NULL, C1(",\"healthCheck\":{\"command\":[\"NONE\",\"x\"]}"),
     CLIENT, "NONE takes no arguments"},
    {"health interval 4", NULL, C1(",\"healthCheck\":{\"command\":[\"CMD\",\"x\"],\"interval\":4}"),
     CLIENT, "'healthCheck.interval' setting for container 'web': it must be between 5 and 300"},
    {"health interval 301", NULL,
     C1(",\"healthCheck\":{\"command\":[\"CMD\",\"x\"],\"interval\":301}"), CLIENT,
     "'healthCheck.interval'"},
    {"health interval 5 and 300", NULL,
     C1(",\"healthCheck\":{\"command\":[\"CMD\",\"x\"],\"interval\":300,\"startPeriod\":300}"),
     NULL, NULL},
    {"health timeout 1", NULL, C1(",\"healthCheck\":{\"command\":[\"CMD\",\"x\"],\"timeout\":1}"),
     CLIENT, "'healthCheck.timeout' setting for container 'web': it must be between 2 and 60"},
    {"health timeout 61", NULL, C1(",\"healthCheck\":{\"command\":[\"CMD\",\"x\"],\"timeout\":61}"),
     CLIENT, "'healthCheck.timeout'"},
    {"health retries 0", NULL, C1(",\"healthCheck\":{\"command\":[\"CMD\",\"x\"],\"retries\":0}"),
     CLIENT, "'healthCheck.retries' setting for container 'web': it must be between 1 and 10"},
    {"health retries 11", NULL, C1(",\"healthCheck\":{\"command\":[\"CMD\",\"x\"],\"retries\":11}"),
     CLIENT, "'healthCheck.retries'"},
    {"health startPeriod -1", NULL,
     C1(",\"healthCheck\":{\"command\":[\"CMD\",\"x\"],\"startPeriod\":-1}"), CLIENT,
     "'healthCheck.startPeriod' setting for container 'web': it must be between 0 and 300"},
    {"health startPeriod 301", NULL,
     C1(",\"healthCheck\":{\"command\":[\"CMD\",\"x\"],\"startPeriod\":301}"), CLIENT,
     "'healthCheck.startPeriod'"},
    /* timeouts */
    {"stopTimeout 120", NULL, C1(",\"stopTimeout\":120"), NULL, NULL},
    {"stopTimeout 121", NULL, C1(",\"stopTimeout\":121"), CLIENT,
     "Invalid 'stopTimeout' setting for container 'web'"},
    {"stopTimeout -1", NULL, C1(",\"stopTimeout\":-1"), CLIENT, "Invalid 'stopTimeout'"},
    {"startTimeout 1", NULL, C1(",\"startTimeout\":1"), CLIENT, "Invalid 'startTimeout'"},
    {"startTimeout 121", NULL, C1(",\"startTimeout\":121"), CLIENT, "Invalid 'startTimeout'"},
    {"startTimeout 60", NULL, C1(",\"startTimeout\":60"), NULL, NULL},
    /* linux parameters */
    {"add SYS_PTRACE", NULL,
     C1(",\"linuxParameters\":{\"capabilities\":{\"add\":[\"SYS_PTRACE\"]},"
        "\"initProcessEnabled\":true}"),
     NULL, NULL},
    {"add NET_ADMIN", NULL, C1(",\"linuxParameters\":{\"capabilities\":{\"add\":[\"NET_ADMIN\"]}}"),
     CLIENT,
     "only support adding the SYS_PTRACE kernel capability (container 'web' adds "
     "'NET_ADMIN')"},
    {"drop NET_RAW", NULL, C1(",\"linuxParameters\":{\"capabilities\":{\"drop\":[\"NET_RAW\"]}}"),
     NULL, NULL},
    {"drop unknown", NULL, C1(",\"linuxParameters\":{\"capabilities\":{\"drop\":[\"BOGUS\"]}}"),
     CLIENT, "Invalid kernel capability 'BOGUS'"},
    {"devices", NULL, C1(",\"linuxParameters\":{\"devices\":[{\"hostPath\":\"/dev/fuse\"}]}"),
     CLIENT, "Fargate does not support 'linuxParameters.devices'"},
    {"sharedMemorySize", NULL, C1(",\"linuxParameters\":{\"sharedMemorySize\":64}"), CLIENT,
     "'linuxParameters.sharedMemorySize'"},
    {"tmpfs", NULL, C1(",\"linuxParameters\":{\"tmpfs\":[{\"containerPath\":\"/t\",\"size\":64}]}"),
     CLIENT, "'linuxParameters.tmpfs'"},
    {"maxSwap", NULL, C1(",\"linuxParameters\":{\"maxSwap\":0}"), CLIENT,
     "'linuxParameters.maxSwap'"},
    {"swappiness", NULL, C1(",\"linuxParameters\":{\"swappiness\":10}"), CLIENT,
     "'linuxParameters.swappiness'"},
    /* logging */
    {"awslogs", NULL, C1("," AWSLOGS), NULL, NULL},
    {"splunk", NULL, C1(",\"logConfiguration\":{\"logDriver\":\"splunk\"}"), CLIENT,
     "skiff only supports the awslogs log driver (container 'web' uses 'splunk')"},
    {"json-file", NULL, C1(",\"logConfiguration\":{\"logDriver\":\"json-file\"}"), CLIENT,
     "only supports the awslogs log driver"},
    {"awslogs without options", NULL, C1(",\"logConfiguration\":{\"logDriver\":\"awslogs\"}"),
     CLIENT, "Log driver awslogs requires options: awslogs-region, awslogs-group"},
    {"awslogs without region", NULL,
     C1(",\"logConfiguration\":{\"logDriver\":\"awslogs\",\"options\":{\"awslogs-group\":\"g\"}}"),
     CLIENT, "requires options: awslogs-region"},
    {"awslogs without group", NULL,
     C1(",\"logConfiguration\":{\"logDriver\":\"awslogs\",\"options\":{\"awslogs-region\":\"r\"}}"),
     CLIENT, "requires options: awslogs-group"},
    /* other container parameters */
    {"ulimit nofile", NULL,
     C1(",\"ulimits\":[{\"name\":\"nofile\",\"softLimit\":1024,\"hardLimit\":4096}]"), NULL, NULL},
    {"ulimit soft above hard", NULL,
     C1(",\"ulimits\":[{\"name\":\"nofile\",\"softLimit\":4097,\"hardLimit\":4096}]"), CLIENT,
     "softLimit must not be greater than hardLimit"},
    {"ulimit twice", NULL,
     C1(",\"ulimits\":[{\"name\":\"nofile\",\"softLimit\":1,\"hardLimit\":1},{\"name\":\"nofile\","
        "\"softLimit\":2,\"hardLimit\":2}]"),
     CLIENT, "Duplicate ulimit 'nofile'"},
    {"sysctl net", NULL,
     C1(",\"systemControls\":[{\"namespace\":\"net.ipv4.tcp_keepalive_time\",\"value\":\"60\"}]"),
     NULL, NULL},
    {"sysctl kernel.shmmax", NULL,
     C1(",\"systemControls\":[{\"namespace\":\"kernel.shmmax\",\"value\":\"1\"}]"), NULL, NULL},
    {"sysctl not namespaced", NULL,
     C1(",\"systemControls\":[{\"namespace\":\"vm.swappiness\",\"value\":\"1\"}]"), CLIENT,
     "does not support the system control 'vm.swappiness'"},
    {"sysctl without value", NULL, C1(",\"systemControls\":[{\"namespace\":\"net.core.x\"}]"),
     CLIENT, "namespace and value are required"},
    {"environment without name", NULL, C1(",\"environment\":[{\"value\":\"v\"}]"), CLIENT,
     "every variable needs a name"},
    /* mount points and volumesFrom */
    {"mount of a declared volume", "{\"volumes\":[{\"name\":\"data\"}]}",
     C1(",\"mountPoints\":[{\"sourceVolume\":\"data\",\"containerPath\":\"/data\"}]"), NULL, NULL},
    {"mount of an unknown volume", "{\"volumes\":[{\"name\":\"data\"}]}",
     C1(",\"mountPoints\":[{\"sourceVolume\":\"other\",\"containerPath\":\"/data\"}]"), CLIENT,
     "unknown volume 'other'"},
    {"mount without volume", NULL, C1(",\"mountPoints\":[{\"containerPath\":\"/data\"}]"), CLIENT,
     "unknown volume"},
    {"mount at a relative path", "{\"volumes\":[{\"name\":\"data\"}]}",
     C1(",\"mountPoints\":[{\"sourceVolume\":\"data\",\"containerPath\":\"data\"}]"), CLIENT,
     "containerPath must be an absolute path"},
    {"volumesFrom another container", NULL,
     "[{\"name\":\"a\",\"image\":\"i\"},{\"name\":\"b\",\"image\":\"i\",\"volumesFrom\":[{"
     "\"sourceContainer\":\"a\"}]}]",
     NULL, NULL},
    {"volumesFrom unknown", NULL, C1(",\"volumesFrom\":[{\"sourceContainer\":\"x\"}]"), CLIENT,
     "Invalid 'volumesFrom' setting for container 'web': unknown container 'x'"},
    {"volumesFrom itself", NULL, C1(",\"volumesFrom\":[{\"sourceContainer\":\"web\"}]"), CLIENT,
     "unknown container 'web'"},
    /* dependsOn */
    {"dependsOn START", NULL,
     "[{\"name\":\"a\",\"image\":\"i\"},{\"name\":\"b\",\"image\":\"i\",\"dependsOn\":[{"
     "\"containerName\":\"a\",\"condition\":\"START\"}]}]",
     NULL, NULL},
    {"dependsOn SUCCESS of non-essential", NULL,
     "[{\"name\":\"init\",\"image\":\"i\",\"essential\":false},{\"name\":\"b\",\"image\":\"i\","
     "\"dependsOn\":[{\"containerName\":\"init\",\"condition\":\"SUCCESS\"}]}]",
     NULL, NULL},
    {"dependsOn COMPLETE of essential", NULL,
     "[{\"name\":\"a\",\"image\":\"i\"},{\"name\":\"b\",\"image\":\"i\",\"dependsOn\":[{"
     "\"containerName\":\"a\",\"condition\":\"COMPLETE\"}]}]",
     CLIENT, "A dependency container with SUCCESS or COMPLETE condition cannot be an essential"},
    {"dependsOn SUCCESS of essential", NULL,
     "[{\"name\":\"a\",\"image\":\"i\",\"essential\":true},{\"name\":\"b\",\"image\":\"i\","
     "\"dependsOn\":[{\"containerName\":\"a\",\"condition\":\"SUCCESS\"}]}]",
     CLIENT, "SUCCESS or COMPLETE condition cannot be an essential container ('b' depends on 'a')"},
    {"dependsOn HEALTHY with health check", NULL,
     "[{\"name\":\"db\",\"image\":\"i\"" HC "},{\"name\":\"b\",\"image\":\"i\",\"dependsOn\":[{"
     "\"containerName\":\"db\",\"condition\":\"HEALTHY\"}]}]",
     NULL, NULL},
    {"dependsOn HEALTHY without health check", NULL,
     "[{\"name\":\"db\",\"image\":\"i\"},{\"name\":\"b\",\"image\":\"i\",\"dependsOn\":[{"
     "\"containerName\":\"db\",\"condition\":\"HEALTHY\"}]}]",
     CLIENT, "depends on 'db' being HEALTHY, but 'db' has no healthCheck"},
    {"dependsOn unknown", NULL,
     C1(",\"dependsOn\":[{\"containerName\":\"ghost\",\"condition\":\"START\"}]"), CLIENT,
     "Invalid 'dependsOn' setting for container 'web': unknown container 'ghost'"},
    {"dependsOn itself", NULL,
     C1(",\"dependsOn\":[{\"containerName\":\"web\",\"condition\":\"START\"}]"), CLIENT,
     "unknown container 'web'"},
    {"dependsOn two-cycle", NULL,
     "[{\"name\":\"a\",\"image\":\"i\",\"dependsOn\":[{\"containerName\":\"b\",\"condition\":"
     "\"START\"}]},{\"name\":\"b\",\"image\":\"i\",\"dependsOn\":[{\"containerName\":\"a\","
     "\"condition\":\"START\"}]}]",
     CLIENT, "Circular dependsOn between containers: a -> b -> a."},
    {"dependsOn three-cycle", NULL,
     "[{\"name\":\"x\",\"image\":\"i\"},{\"name\":\"a\",\"image\":\"i\",\"dependsOn\":[{"
     "\"containerName\":\"b\",\"condition\":\"START\"}]},{\"name\":\"b\",\"image\":\"i\","
     "\"dependsOn\":[{\"containerName\":\"c\",\"condition\":\"START\"}]},{\"name\":\"c\","
     "\"image\":\"i\",\"dependsOn\":[{\"containerName\":\"a\",\"condition\":\"START\"}]}]",
     CLIENT, "a -> b -> c -> a"},
    {"dependsOn diamond", NULL,
     "[{\"name\":\"a\",\"image\":\"i\",\"dependsOn\":[{\"containerName\":\"b\",\"condition\":"
     "\"START\"},{\"containerName\":\"c\",\"condition\":\"START\"}]},{\"name\":\"b\",\"image\":"
     "\"i\",\"dependsOn\":[{\"containerName\":\"d\",\"condition\":\"START\"}]},{\"name\":\"c\","
     "\"image\":\"i\",\"dependsOn\":[{\"containerName\":\"d\",\"condition\":\"START\"}]},{"
     "\"name\":\"d\",\"image\":\"i\"}]",
     NULL, NULL},
};

static void test_rules(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        const struct rule_case *c = &rules[i];
        json_t *req = request(c->task, c->containers);
        json_t *doc = NULL;
        struct error *err = NULL;
        int r = ecs_taskdef_validate(req, &doc, &err);
        bool ok;
        if (!c->type)
            ok = r == 0 && doc;
        else
            ok = r == -EINVAL && err && err->type && !strcmp(err->type, c->type) &&
                 strstr(err->msg, c->fragment);
        if (!ok) {
            print_error("case '%s': expected %s '%s', got r=%d %s '%s'\n", c->what,
                        c->type ? c->type : "success", c->fragment ? c->fragment : "", r,
                        err && err->type ? err->type : "", err ? err->msg : "");
            failures++;
        }
        error_free(err);
        json_decref(doc);
        json_decref(req);
    }
    assert_int_equal(failures, 0);
}

/* ---- cpu and memory strings ---- */

static const struct size_case {
    const char *text;
    long cpu;    /* -1: not a cpu value */
    long memory; /* -1: not a memory value */
} sizes[] = {
    {"256", 256, 256},
    {"1024", 1024, 1024},
    {" 2048 ", 2048, 2048},
    {".25 vCPU", 256, -1},
    {"0.25 vCPU", 256, -1},
    {"0.5 vcpu", 512, -1},
    {"1 vCPU", 1024, -1},
    {"1vcpu", 1024, -1},
    {"2 VCPU", 2048, -1},
    {"16 vCPU", 16384, -1},
    {"0.125 vCPU", 128, -1},
    {"1GB", -1, 1024},
    {"1 GB", -1, 1024},
    {"0.5GB", -1, 512},
    {"0.5 gb", -1, 512},
    {"120 GB", -1, 122880},
    {"1.5GB", -1, 1536},
    {"0.1 vCPU", -1, -1}, /* 102.4 units */
    {"0.0001GB", -1, -1},
    {"1 GiB", -1, -1},
    {"1 MB", -1, -1},
    {"1 vCPUs", -1, -1},
    {"0.25", -1, -1},
    {"", -1, -1},
    {" ", -1, -1},
    {"0", -1, -1},
    {"0 vCPU", -1, -1},
    {"-1", -1, -1},
    {"+1", -1, -1},
    {"1e3", -1, -1},
    {"1..5 GB", -1, -1},
    {". GB", -1, -1},
    {"1. GB", -1, -1},
    {"vCPU", -1, -1},
    {"99999999999999999999", -1, -1},
    {"0x100", -1, -1},
    {"256 256", -1, -1},
};

static void test_parse_sizes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        long v = 0;
        int r = ecs_taskdef_parse_cpu(sizes[i].text, &v);
        if (sizes[i].cpu < 0) {
            if (r != -EINVAL)
                fail_msg("cpu '%s' parsed as %ld", sizes[i].text, v);
        } else if (r != 0 || v != sizes[i].cpu) {
            fail_msg("cpu '%s': r=%d v=%ld, expected %ld", sizes[i].text, r, v, sizes[i].cpu);
        }
        r = ecs_taskdef_parse_memory(sizes[i].text, &v);
        if (sizes[i].memory < 0) {
            if (r != -EINVAL)
                fail_msg("memory '%s' parsed as %ld", sizes[i].text, v);
        } else if (r != 0 || v != sizes[i].memory) {
            fail_msg("memory '%s': r=%d v=%ld, expected %ld", sizes[i].text, r, v, sizes[i].memory);
        }
    }
    assert_int_equal(ecs_taskdef_parse_cpu(NULL, &(long){0}), -EINVAL);
}

/* The Fargate table as AWS documents it, written independently of the
 * validator's. */
static bool documented_size(long cpu, long mem)
{
    switch (cpu) {
    case 256:
        return mem == 512 || mem == 1024 || mem == 2048;
    case 512:
        return mem >= 1024 && mem <= 4096 && mem % 1024 == 0;
    case 1024:
        return mem >= 2048 && mem <= 8192 && mem % 1024 == 0;
    case 2048:
        return mem >= 4096 && mem <= 16384 && mem % 1024 == 0;
    case 4096:
        return mem >= 8192 && mem <= 30720 && mem % 1024 == 0;
    case 8192:
        return mem >= 16 * 1024 && mem <= 60 * 1024 && mem % (4 * 1024) == 0;
    case 16384:
        return mem >= 32 * 1024 && mem <= 120 * 1024 && mem % (8 * 1024) == 0;
    default:
        return false;
    }
}

static void test_fargate_sizes(void **state)
{
    (void)state;
    static const long cpus[] = {0,    128,  256,  384,   512,   1024, 1536,
                                2048, 4096, 8192, 10240, 16384, 32768};
    int valid = 0, checked_invalid = 0;
    for (size_t i = 0; i < sizeof(cpus) / sizeof(cpus[0]); i++) {
        for (long mem = 0; mem <= 131072; mem += 256) {
            bool want = documented_size(cpus[i], mem);
            if (ecs_fargate_size_valid(cpus[i], mem) != want)
                fail_msg("size %ld CPU / %ld MiB: expected %s", cpus[i], mem,
                         want ? "valid" : "invalid");
            if (!want && mem % 8192)
                continue;
            /* Every valid size, and a few invalid ones, through the whole
             * validator, as the strings a user writes. */
            char task[160];
            if (mem % 1024 == 0 && mem)
                snprintf(task, sizeof(task), "{\"cpu\":\"%ld\",\"memory\":\"%ld GB\"}", cpus[i],
                         mem / 1024);
            else
                snprintf(task, sizeof(task), "{\"cpu\":\"%ld\",\"memory\":\"%ld\"}", cpus[i], mem);
            json_t *req = request(task, NULL);
            json_t *doc = NULL;
            struct error *err = NULL;
            int r = ecs_taskdef_validate(req, &doc, &err);
            if (want) {
                valid++;
                if (r != 0)
                    fail_msg("%s refused: %s", task, err->msg);
                char cpu_s[16], mem_s[16];
                snprintf(cpu_s, sizeof(cpu_s), "%ld", cpus[i]);
                snprintf(mem_s, sizeof(mem_s), "%ld", mem);
                assert_string_equal(json_string_value(json_object_get(doc, "cpu")), cpu_s);
                assert_string_equal(json_string_value(json_object_get(doc, "memory")), mem_s);
            } else {
                checked_invalid++;
                assert_int_equal(r, -EINVAL);
                assert_string_equal(err->type, "ClientException");
                if (cpus[i] && mem)
                    assert_non_null(strstr(err->msg, "No Fargate configuration exists"));
            }
            error_free(err);
            json_decref(doc);
            json_decref(req);
        }
    }
    /* 3 + 4 + 7 + 13 + 23 + 12 + 12 documented sizes. */
    assert_int_equal(valid, 74);
    assert_true(checked_invalid > 10);
}

/* ---- the normalised document ---- */

static json_t *normalise(const char *task, const char *containers)
{
    json_t *req = request(task, containers);
    json_t *doc = NULL;
    struct error *err = NULL;
    if (ecs_taskdef_validate(req, &doc, &err) < 0)
        fail_msg("refused: %s", err->msg);
    json_decref(req);
    return doc;
}

static bool has_attribute(const json_t *doc, const char *name)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(doc, "requiresAttributes"), i, a)
    {
        if (!strcmp(json_string_value(json_object_get(a, "name")), name))
            return true;
    }
    return false;
}

static void test_normalised_defaults(void **state)
{
    (void)state;
    json_t *doc = normalise("{\"cpu\":\"1 vCPU\",\"memory\":\"2GB\","
                            "\"requiresCompatibilities\":[\"FARGATE\"],"
                            "\"runtimePlatform\":{\"cpuArchitecture\":\"ARM64\"},"
                            "\"ephemeralStorage\":{\"sizeInGiB\":30}}",
                            "[{\"name\":\"web\",\"image\":\"nginx\",\"bogus\":1,\"user\":null,"
                            "\"portMappings\":[{\"containerPort\":80},{\"containerPort\":53,"
                            "\"protocol\":\"udp\",\"hostPort\":0}]," AWSLOGS HC "}]");
    assert_string_equal(json_string_value(json_object_get(doc, "family")), "web");
    assert_string_equal(json_string_value(json_object_get(doc, "cpu")), "1024");
    assert_string_equal(json_string_value(json_object_get(doc, "memory")), "2048");
    assert_string_equal(json_string_value(json_object_get(doc, "networkMode")), "awsvpc");
    json_t *compat = json_pack("[s,s]", "EC2", "FARGATE");
    assert_true(json_equal(json_object_get(doc, "compatibilities"), compat));
    json_decref(compat);
    json_t *req = json_object_get(doc, "requiresCompatibilities");
    assert_int_equal(json_array_size(req), 1);
    assert_string_equal(json_string_value(json_array_get(req, 0)), "FARGATE");
    assert_int_equal(json_array_size(json_object_get(doc, "volumes")), 0);
    assert_int_equal(json_array_size(json_object_get(doc, "placementConstraints")), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "runtimePlatform"),
                                                          "cpuArchitecture")),
                        "ARM64");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(doc, "ephemeralStorage"), "sizeInGiB")),
        30);
    assert_true(has_attribute(doc, "ecs.capability.task-eni"));
    assert_true(has_attribute(doc, "com.amazonaws.ecs.capability.logging-driver.awslogs"));
    assert_true(has_attribute(doc, "ecs.capability.container-health-check"));
    assert_null(json_object_get(doc, "taskDefinitionArn"));

    json_t *c = json_array_get(json_object_get(doc, "containerDefinitions"), 0);
    assert_non_null(c);
    assert_null(json_object_get(c, "bogus"));
    assert_null(json_object_get(c, "user"));
    assert_true(json_is_true(json_object_get(c, "essential")));
    assert_int_equal(json_integer_value(json_object_get(c, "cpu")), 0);
    static const char *const lists[] = {"environment", "mountPoints", "volumesFrom",
                                        "systemControls"};
    for (size_t i = 0; i < 4; i++) {
        json_t *l = json_object_get(c, lists[i]);
        assert_true(json_is_array(l));
        assert_int_equal(json_array_size(l), 0);
    }
    json_t *pm = json_object_get(c, "portMappings");
    assert_int_equal(json_array_size(pm), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(pm, 0), "hostPort")), 80);
    assert_string_equal(json_string_value(json_object_get(json_array_get(pm, 0), "protocol")),
                        "tcp");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(pm, 1), "hostPort")), 53);
    assert_string_equal(json_string_value(json_object_get(json_array_get(pm, 1), "protocol")),
                        "udp");
    json_t *hc = json_object_get(c, "healthCheck");
    assert_int_equal(json_integer_value(json_object_get(hc, "interval")), 30);
    assert_int_equal(json_integer_value(json_object_get(hc, "timeout")), 5);
    assert_int_equal(json_integer_value(json_object_get(hc, "retries")), 3);
    assert_int_equal(json_integer_value(json_object_get(hc, "startPeriod")), 0);
    json_decref(doc);

    /* Given values are kept; no requiresCompatibilities when none given. */
    doc = normalise(NULL, "[{\"name\":\"web\",\"image\":\"nginx\",\"essential\":true,\"cpu\":128,"
                          "\"environment\":[{\"name\":\"A\",\"value\":\"1\"}],"
                          "\"healthCheck\":{\"command\":[\"CMD\",\"x\"],\"interval\":10,"
                          "\"timeout\":3,\"retries\":2,\"startPeriod\":7}}]");
    assert_null(json_object_get(doc, "requiresCompatibilities"));
    c = json_array_get(json_object_get(doc, "containerDefinitions"), 0);
    assert_int_equal(json_integer_value(json_object_get(c, "cpu")), 128);
    assert_int_equal(json_array_size(json_object_get(c, "environment")), 1);
    hc = json_object_get(c, "healthCheck");
    assert_int_equal(json_integer_value(json_object_get(hc, "interval")), 10);
    assert_int_equal(json_integer_value(json_object_get(hc, "timeout")), 3);
    assert_int_equal(json_integer_value(json_object_get(hc, "retries")), 2);
    assert_int_equal(json_integer_value(json_object_get(hc, "startPeriod")), 7);
    assert_string_equal(json_string_value(json_object_get(doc, "cpu")), "256");
    json_decref(doc);
}

static void test_not_an_object(void **state)
{
    (void)state;
    json_t *a = json_array();
    json_t *doc = NULL;
    struct error *err = NULL;
    assert_int_equal(ecs_taskdef_validate(a, &doc, &err), -EINVAL);
    assert_null(doc);
    assert_string_equal(err->type, "InvalidParameterException");
    error_free(err);
    json_decref(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),         cmocka_unit_test(test_parse_sizes),
        cmocka_unit_test(test_fargate_sizes), cmocka_unit_test(test_normalised_defaults),
        cmocka_unit_test(test_not_an_object),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
