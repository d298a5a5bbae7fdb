/* Task definition validation: the semantic rules of RegisterTaskDefinition
 * on top of the botocore model's type checks, and the normalised document
 * that registration stores.
 *
 * Choices, where ECS leaves room or skiff differs from AWS:
 *   - skiff runs every task on Fargate, so every task definition is
 *     validated as a Fargate one, with or without requiresCompatibilities
 *     (EXTERNAL is refused). A definition that passes is valid for EC2 too,
 *     so compatibilities is always ["EC2", "FARGATE"], as ECS reports it
 *     for a definition valid for both.
 *   - networkMode defaults to awsvpc; any other mode is refused.
 *   - runtimePlatform: Linux only (skiff runs Linux); cpuArchitecture kept.
 *   - logConfiguration: awslogs only (AWS also allows splunk and
 *     awsfirelens on Fargate), with options awslogs-group and
 *     awslogs-region required, as ECS requires them.
 *   - portMappings: hostPort absent, 0 (ECS treats it as unset in awsvpc
 *     mode) or equal to containerPort; stored as containerPort. As the
 *     containers of a task share one network interface, a port/protocol
 *     may be mapped once per task.
 *   - volumes: name-only (task storage) volumes; host volumes without a
 *     sourcePath are the same thing; everything else is refused.
 *   - Features skiff cannot provide are refused with a message saying so
 *     rather than accepted and ignored: environmentFiles (S3),
 *     firelensConfiguration, proxyConfiguration, GPUs.
 *
 * Every rule answers ClientException, as ECS does for task definitions it
 * refuses; InvalidParameterException is kept for a request that is not a
 * task definition at all (e.g. containerDefinitions not a list). */
#include "ecs/taskdef.h"
#include "ecs/ecs-internal.h"
#include "api/arn.h"
#include "base/buf.h"
#include "base/cleanup.h"
#include "base/json.h"
#include "base/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#define REJECT(...)    error_set(err, EINVAL, ERR_CLIENT, __VA_ARGS__)
#define MALFORMED(...) error_set(err, EINVAL, ERR_INVALID, __VA_ARGS__)

/* Docker's floor for a container's memory (MiB). */
#define MIN_CONTAINER_MEMORY 6

/* ---- small JSON helpers ---- */

/* A member that is present and not null (the model treats null as absent). */
static json_t *member(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_null(v) ? NULL : v;
}

static bool get_int(const json_t *o, const char *key, json_int_t *ret)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        return false;
    *ret = json_integer_value(v);
    return true;
}

static bool nonempty_list(const json_t *o, const char *key)
{
    return json_array_size(json_object_get(o, key)) > 0;
}

/* Deep copy without null members (nulls mean "absent" on input and are
 * never stored). */
static json_t *copy_clean(const json_t *v)
{
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)v, k, m)
        {
            if (!json_is_null(m))
                json_object_set_new(o, k, copy_clean(m));
        }
        return o;
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) json_array_append_new(a, copy_clean(e));
        return a;
    }
    return json_deep_copy(v);
}

/* ---- task size ---- */

/* Parses "DIGITS[.DIGITS]" or ".DIGITS" (the whole of s) times scale; the
 * product must be a whole number. */
static int parse_scaled(const char *s, size_t len, long scale, long *ret)
{
    long whole = 0, frac = 0, div = 1;
    size_t i = 0, digits = 0;
    for (; i < len && isdigit((unsigned char)s[i]); i++, digits++) {
        if (whole > 100000000)
            return -EINVAL;
        whole = whole * 10 + (s[i] - '0');
    }
    if (i < len && s[i] == '.') {
        size_t nf = 0;
        for (i++; i < len && isdigit((unsigned char)s[i]); i++, nf++, digits++) {
            if (nf >= 6)
                return -EINVAL;
            frac = frac * 10 + (s[i] - '0');
            div *= 10;
        }
        if (!nf)
            return -EINVAL;
    }
    if (i != len || !digits)
        return -EINVAL;
    long num = whole * div + frac;
    if ((num * scale) % div)
        return -EINVAL;
    *ret = num * scale / div;
    return 0;
}

/* "N" (plain units, an integer) or "N UNIT" (times unit_scale), with
 * optional spaces around and before the unit, the unit case-insensitive. */
static int parse_size(const char *s, const char *unit, long unit_scale, long *ret)
{
    if (!s)
        return -EINVAL;
    while (isspace((unsigned char)*s))
        s++;
    const char *num = s;
    while (isdigit((unsigned char)*s) || *s == '.')
        s++;
    size_t num_len = (size_t)(s - num);
    while (isspace((unsigned char)*s))
        s++;
    size_t rest = strlen(s);
    while (rest && isspace((unsigned char)s[rest - 1]))
        rest--;
    long scale;
    if (rest == 0) {
        if (memchr(num, '.', num_len))
            return -EINVAL;
        scale = 1;
    } else if (rest == strlen(unit) && !strncasecmp(s, unit, rest)) {
        scale = unit_scale;
    } else {
        return -EINVAL;
    }
    long v;
    if (parse_scaled(num, num_len, scale, &v) < 0 || v <= 0)
        return -EINVAL;
    *ret = v;
    return 0;
}

int ecs_taskdef_parse_cpu(const char *s, long *ret_units)
{
    return parse_size(s, "vcpu", 1024, ret_units);
}

int ecs_taskdef_parse_memory(const char *s, long *ret_mib)
{
    return parse_size(s, "gb", 1024, ret_mib);
}

/* Fargate task sizes: for a cpu, memory from min to max in steps. */
static const struct fargate_size {
    long cpu, min, max, step;
} fargate_sizes[] = {
    {256, 512, 512, 1},         {256, 1024, 2048, 1024},      {512, 1024, 4096, 1024},
    {1024, 2048, 8192, 1024},   {2048, 4096, 16384, 1024},    {4096, 8192, 30720, 1024},
    {8192, 16384, 61440, 4096}, {16384, 32768, 122880, 8192},
};

bool ecs_fargate_size_valid(long cpu, long memory)
{
    for (size_t i = 0; i < ARRAY_SIZE(fargate_sizes); i++) {
        const struct fargate_size *f = &fargate_sizes[i];
        if (cpu == f->cpu && memory >= f->min && memory <= f->max &&
            (memory - f->min) % f->step == 0)
            return true;
    }
    return false;
}

/* ---- the validation state ---- */

struct task {
    long cpu, memory;
    json_t *doc;        /* the normalised task definition being built */
    json_t *containers; /* doc's containerDefinitions */
    json_t *volumes;    /* doc's volumes */
    json_t *ports;      /* set of "PORT/PROTOCOL" already mapped */
    json_t *attributes; /* set of requiresAttributes names */
};

static void require(struct task *t, const char *attribute)
{
    json_object_set_new(t->attributes, attribute, json_true());
}

static bool volume_declared(const struct task *t, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(t->volumes, i, v)
    {
        if (!strcmp(json_get_str(v, "name"), name))
            return true;
    }
    return false;
}

static json_t *find_container(const struct task *t, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(t->containers, i, c)
    {
        if (!strcmp(json_get_str(c, "name"), name))
            return c;
    }
    return NULL;
}

/* ---- task-level rules ---- */

static int check_family(const json_t *in, struct error **err)
{
    const char *family = json_get_str(in, "family");
    if (!family || !*family)
        return REJECT("Family should not be null or empty.");
    if (!ecs_name_valid(family))
        return REJECT("Family name can have up to 255 letters (uppercase and lowercase), numbers, "
                      "underscores, and hyphens.");
    return 0;
}

static int check_compatibilities(const json_t *in, struct task *t, struct error **err)
{
    json_t *req = member(in, "requiresCompatibilities");
    size_t i;
    json_t *v;
    json_array_foreach(req, i, v)
    {
        const char *c = json_string_value(v);
        if (!c || (strcmp(c, "FARGATE") != 0 && strcmp(c, "EC2") != 0))
            return REJECT("skiff runs tasks on Fargate only; requiresCompatibilities %.32s is not "
                          "supported.",
                          c ? c : "(not a string)");
    }
    if (req)
        json_object_set_new(t->doc, "requiresCompatibilities", copy_clean(req));
    json_object_set_new(t->doc, "compatibilities", json_pack("[s, s]", "EC2", "FARGATE"));

    const char *mode = json_get_str(in, "networkMode");
    if (mode && strcmp(mode, "awsvpc") != 0)
        return REJECT("Fargate only supports network mode 'awsvpc'; skiff runs every task on "
                      "Fargate (networkMode was '%.32s').",
                      mode);
    json_object_set_new(t->doc, "networkMode", json_string("awsvpc"));
    require(t, "ecs.capability.task-eni");

    json_t *rp = json_get_object(in, "runtimePlatform");
    if (rp) {
        const char *os = json_get_str(rp, "operatingSystemFamily");
        if (os && strcmp(os, "LINUX") != 0)
            return REJECT("skiff runs Linux containers only; operatingSystemFamily %.64s is not "
                          "supported.",
                          os);
        json_object_set_new(t->doc, "runtimePlatform", copy_clean(rp));
    }
    return 0;
}

static int check_size(const json_t *in, struct task *t, struct error **err)
{
    const char *cpu = json_get_str(in, "cpu"), *memory = json_get_str(in, "memory");
    if (!cpu)
        return REJECT("Fargate requires that 'cpu' be defined at the task level.");
    if (!memory)
        return REJECT("Fargate requires that 'memory' be defined at the task level.");
    if (ecs_taskdef_parse_cpu(cpu, &t->cpu) < 0)
        return REJECT("Invalid 'cpu' setting for task.");
    if (ecs_taskdef_parse_memory(memory, &t->memory) < 0)
        return REJECT("Invalid 'memory' setting for task.");
    if (!ecs_fargate_size_valid(t->cpu, t->memory))
        return REJECT("No Fargate configuration exists for given values: %ld CPU, %ld memory. "
                      "See the Amazon ECS documentation for the valid values.",
                      t->cpu, t->memory);
    char buf[32];
    snprintf(buf, sizeof(buf), "%ld", t->cpu);
    json_object_set_new(t->doc, "cpu", json_string(buf));
    snprintf(buf, sizeof(buf), "%ld", t->memory);
    json_object_set_new(t->doc, "memory", json_string(buf));
    return 0;
}

static int check_role(const json_t *in, const char *key, struct task *t, struct error **err)
{
    const char *role = json_get_str(in, key);
    if (!role)
        return 0;
    struct arn a;
    if (!*role || (arn_is(role) && (arn_parse(role, &a) < 0 || strcmp(a.service, "iam") != 0 ||
                                    strncmp(a.resource, "role/", 5) != 0)))
        return REJECT("Invalid arn syntax for '%s': %.256s", key, role);
    json_object_set_new(t->doc, key, json_string(role));
    return 0;
}

/* Task-level parameters Fargate or skiff does not support, and the few
 * that are simply kept. */
static int check_task_options(const json_t *in, struct task *t, struct error **err)
{
    json_int_t size;
    json_t *es = json_get_object(in, "ephemeralStorage");
    if (es) {
        if (!get_int(es, "sizeInGiB", &size) || size < 21 || size > 200)
            return REJECT("Invalid 'ephemeralStorage' setting: sizeInGiB must be between 21 and "
                          "200 GiB.");
        json_object_set_new(t->doc, "ephemeralStorage", json_pack("{s:I}", "sizeInGiB", size));
        require(t, "ecs.capability.ephemeral-storage");
    }
    const char *pid = json_get_str(in, "pidMode");
    if (pid && strcmp(pid, "task") != 0)
        return REJECT("Tasks using the Fargate launch type do not support pidMode '%.16s'; only "
                      "'task' is allowed.",
                      pid);
    json_set_str(t->doc, "pidMode", pid);
    if (member(in, "ipcMode"))
        return REJECT("Tasks using the Fargate launch type do not support ipcMode.");
    if (nonempty_list(in, "placementConstraints"))
        return REJECT("Tasks using the Fargate launch type do not support placementConstraints.");
    if (nonempty_list(in, "inferenceAccelerators"))
        return REJECT("Tasks using the Fargate launch type do not support inferenceAccelerators.");
    if (member(in, "proxyConfiguration"))
        return REJECT("skiff does not support proxyConfiguration (there is no App Mesh).");
    json_object_set_new(t->doc, "placementConstraints", json_array());
    int r;
    if ((r = check_role(in, "taskRoleArn", t, err)) < 0 ||
        (r = check_role(in, "executionRoleArn", t, err)) < 0)
        return r;
    if (json_get_str(in, "taskRoleArn"))
        require(t, "com.amazonaws.ecs.capability.task-iam-role");
    return 0;
}

static int check_volumes(const json_t *in, struct task *t, struct error **err)
{
    size_t i;
    json_t *v;
    json_array_foreach(member(in, "volumes"), i, v)
    {
        const char *name = json_get_str(v, "name");
        if (!name || !*name)
            return REJECT("Volume.name should not be null or empty.");
        if (!ecs_name_valid(name))
            return REJECT("Invalid volume name '%.256s': up to 255 letters (uppercase and "
                          "lowercase), numbers, underscores, and hyphens are allowed.",
                          name);
        if (volume_declared(t, name))
            return REJECT("Duplicate volume name '%.256s'.", name);
        json_t *host = json_get_object(v, "host");
        if (host && json_get_str(host, "sourcePath"))
            return REJECT("Fargate does not support host volumes with a sourcePath (volume "
                          "'%.256s'); declare the volume with only a name for task storage.",
                          name);
        static const char *const unsupported[] = {"dockerVolumeConfiguration",
                                                  "efsVolumeConfiguration",
                                                  "fsxWindowsFileServerVolumeConfiguration"};
        for (size_t k = 0; k < ARRAY_SIZE(unsupported); k++)
            if (member(v, unsupported[k]))
                return REJECT("skiff does not support %s (volume '%.256s'); declare the volume "
                              "with only a name for task storage.",
                              unsupported[k], name);
        json_t *out = json_pack("{s:s}", "name", name);
        if (host)
            json_object_set_new(out, "host", json_object());
        json_array_append_new(t->volumes, out);
    }
    return 0;
}

/* ---- container-level rules ---- */

/* The members of ContainerDefinition that a stored definition keeps
 * (unknown members are dropped, as AWS does). */
static const char *const container_members[] = {
    "name",
    "image",
    "repositoryCredentials",
    "cpu",
    "memory",
    "memoryReservation",
    "links",
    "portMappings",
    "essential",
    "entryPoint",
    "command",
    "environment",
    "environmentFiles",
    "mountPoints",
    "volumesFrom",
    "linuxParameters",
    "secrets",
    "dependsOn",
    "startTimeout",
    "stopTimeout",
    "hostname",
    "user",
    "workingDirectory",
    "disableNetworking",
    "privileged",
    "readonlyRootFilesystem",
    "dnsServers",
    "dnsSearchDomains",
    "extraHosts",
    "dockerSecurityOptions",
    "interactive",
    "pseudoTerminal",
    "dockerLabels",
    "ulimits",
    "logConfiguration",
    "healthCheck",
    "systemControls",
    "resourceRequirements",
    "firelensConfiguration",
};

/* Container parameters that cannot work in a Fargate (awsvpc) task. */
static const struct {
    const char *member;
    const char *why;
} container_unsupported[] = {
    {"links", "is not supported when networkMode=awsvpc"},
    {"hostname", "is not supported when networkMode=awsvpc"},
    {"dnsServers", "is not supported when networkMode=awsvpc"},
    {"dnsSearchDomains", "is not supported when networkMode=awsvpc"},
    {"extraHosts", "is not supported when networkMode=awsvpc"},
    {"dockerSecurityOptions", "is not supported on Fargate"},
    {"resourceRequirements", "is not supported on Fargate (no GPUs or inference accelerators)"},
    {"firelensConfiguration", "is not supported by skiff, which only supports the awslogs log "
                              "driver"},
    {"environmentFiles", "is not supported by skiff (there is no S3); use environment"},
};

static const char *const capabilities[] = {
    "ALL",        "AUDIT_CONTROL",   "AUDIT_WRITE",      "BLOCK_SUSPEND",
    "CHOWN",      "DAC_OVERRIDE",    "DAC_READ_SEARCH",  "FOWNER",
    "FSETID",     "IPC_LOCK",        "IPC_OWNER",        "KILL",
    "LEASE",      "LINUX_IMMUTABLE", "MAC_ADMIN",        "MAC_OVERRIDE",
    "MKNOD",      "NET_ADMIN",       "NET_BIND_SERVICE", "NET_BROADCAST",
    "NET_RAW",    "SETFCAP",         "SETGID",           "SETPCAP",
    "SETUID",     "SYS_ADMIN",       "SYS_BOOT",         "SYS_CHROOT",
    "SYS_MODULE", "SYS_NICE",        "SYS_PACCT",        "SYS_PTRACE",
    "SYS_RAWIO",  "SYS_RESOURCE",    "SYS_TIME",         "SYS_TTY_CONFIG",
    "SYSLOG",     "WAKE_ALARM",
};

static bool known_capability(const char *c)
{
    for (size_t i = 0; i < ARRAY_SIZE(capabilities); i++)
        if (!strcmp(c, capabilities[i]))
            return true;
    return false;
}

static int check_linux(const char *name, json_t *lp, struct error **err)
{
    static const char *const unsupported[] = {"devices", "sharedMemorySize", "tmpfs", "maxSwap",
                                              "swappiness"};
    for (size_t k = 0; k < ARRAY_SIZE(unsupported); k++)
        if (member(lp, unsupported[k]))
            return REJECT("Fargate does not support 'linuxParameters.%s' (container '%s').",
                          unsupported[k], name);
    json_t *caps = json_get_object(lp, "capabilities");
    size_t i;
    json_t *v;
    json_array_foreach(member(caps, "add"), i, v)
    {
        const char *c = json_string_value(v);
        if (!c || strcmp(c, "SYS_PTRACE") != 0)
            return REJECT("Tasks launched on Fargate only support adding the SYS_PTRACE kernel "
                          "capability (container '%s' adds '%.64s').",
                          name, c ? c : "");
    }
    json_array_foreach(member(caps, "drop"), i, v)
    {
        const char *c = json_string_value(v);
        if (!c || !known_capability(c))
            return REJECT("Invalid kernel capability '%.64s' in 'linuxParameters.capabilities."
                          "drop' of container '%s'.",
                          c ? c : "", name);
    }
    return 0;
}

static int check_ports(struct task *t, const char *name, json_t *c, struct error **err)
{
    json_t *given = json_incref(member(c, "portMappings"));
    json_t *out = json_array();
    json_object_set_new(c, "portMappings", out);
    size_t i;
    json_t *pm;
    int r = 0;
    json_array_foreach(given, i, pm)
    {
        json_int_t port = 0, host = 0;
        if (!get_int(pm, "containerPort", &port) || port < 1 || port > 65535) {
            r = REJECT("Invalid 'containerPort' setting for container '%s'.", name);
            break;
        }
        if (get_int(pm, "hostPort", &host) && host != 0 && host != port) {
            r = REJECT("When networkMode=awsvpc, the host ports and container ports in port "
                       "mappings must match.");
            break;
        }
        const char *proto = json_get_str(pm, "protocol");
        if (!proto)
            proto = "tcp";
        if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0) {
            r = REJECT("Invalid 'protocol' setting for container '%s': tcp or udp.", name);
            break;
        }
        char key[32];
        snprintf(key, sizeof(key), "%lld/%s", (long long)port, proto);
        if (json_object_get(t->ports, key)) {
            r = REJECT("Port %s is mapped more than once in the task (container '%s'); the "
                       "containers of an awsvpc task share one network interface.",
                       key, name);
            break;
        }
        json_object_set_new(t->ports, key, json_true());
        json_t *n = copy_clean(pm);
        json_object_set_new(n, "containerPort", json_integer(port));
        json_object_set_new(n, "hostPort", json_integer(port));
        json_object_set_new(n, "protocol", json_string(proto));
        json_array_append_new(out, n);
    }
    json_decref(given);
    return r;
}

/* Checks a health check and fills in ECS's defaults. */
static int check_health(struct task *t, const char *name, json_t *hc, struct error **err)
{
    json_t *cmd = member(hc, "command");
    const char *first = json_string_value(json_array_get(cmd, 0));
    size_t n = json_array_size(cmd);
    if (!first || (strcmp(first, "CMD") != 0 && strcmp(first, "CMD-SHELL") != 0 &&
                   strcmp(first, "NONE") != 0))
        return REJECT("Invalid 'healthCheck.command' setting for container '%s': it must start "
                      "with CMD, CMD-SHELL or NONE.",
                      name);
    if ((strcmp(first, "NONE") != 0 && n < 2) || (!strcmp(first, "NONE") && n != 1))
        return REJECT("Invalid 'healthCheck.command' setting for container '%s': %s %s.", name,
                      first, strcmp(first, "NONE") ? "needs a command" : "takes no arguments");
    static const struct {
        const char *key;
        json_int_t min, max, def;
    } timings[] = {
        {"interval", 5, 300, 30},
        {"timeout", 2, 60, 5},
        {"retries", 1, 10, 3},
        {"startPeriod", 0, 300, 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(timings); i++) {
        json_int_t v = timings[i].def;
        if (get_int(hc, timings[i].key, &v) && (v < timings[i].min || v > timings[i].max))
            return REJECT("Invalid 'healthCheck.%s' setting for container '%s': it must be "
                          "between %lld and %lld.",
                          timings[i].key, name, (long long)timings[i].min,
                          (long long)timings[i].max);
        json_object_set_new(hc, timings[i].key, json_integer(v));
    }
    require(t, "ecs.capability.container-health-check");
    return 0;
}

static int check_logging(struct task *t, const char *name, json_t *lc, struct error **err)
{
    const char *driver = json_get_str(lc, "logDriver");
    if (!driver || strcmp(driver, "awslogs") != 0)
        return REJECT("skiff only supports the awslogs log driver (container '%s' uses "
                      "'%.32s').",
                      name, driver ? driver : "");
    json_t *opts = json_get_object(lc, "options");
    bool region = json_get_str(opts, "awslogs-region") != NULL;
    bool group = json_get_str(opts, "awslogs-group") != NULL;
    if (!region || !group)
        return REJECT("Log driver awslogs requires options: %s%s%s", region ? "" : "awslogs-region",
                      !region && !group ? ", " : "", group ? "" : "awslogs-group");
    require(t, "com.amazonaws.ecs.capability.logging-driver.awslogs");
    return 0;
}

/* The IPC kernel parameters Docker treats as namespaced. */
static bool namespaced_sysctl(const char *ns)
{
    static const char *const ipc[] = {"kernel.msgmax", "kernel.msgmnb",         "kernel.msgmni",
                                      "kernel.sem",    "kernel.shmall",         "kernel.shmmax",
                                      "kernel.shmmni", "kernel.shm_rmid_forced"};
    if (!strncmp(ns, "net.", 4) || !strncmp(ns, "fs.mqueue.", 10))
        return true;
    for (size_t i = 0; i < ARRAY_SIZE(ipc); i++)
        if (!strcmp(ns, ipc[i]))
            return true;
    return false;
}

static int check_misc(const char *name, json_t *c, struct error **err)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(c, "environment"), i, v)
    {
        const char *n = json_get_str(v, "name");
        if (!n || !*n)
            return REJECT("Invalid 'environment' setting for container '%s': every variable "
                          "needs a name.",
                          name);
    }
    json_array_foreach(json_object_get(c, "systemControls"), i, v)
    {
        const char *ns = json_get_str(v, "namespace");
        if (!ns || !*ns || !json_get_str(v, "value"))
            return REJECT("Invalid 'systemControls' setting for container '%s': namespace and "
                          "value are required.",
                          name);
        if (!namespaced_sysctl(ns))
            return REJECT("Fargate does not support the system control '%.128s' (container "
                          "'%s'): only namespaced net.* and IPC kernel parameters.",
                          ns, name);
    }
    json_t *seen = json_object();
    json_array_foreach(member(c, "ulimits"), i, v)
    {
        const char *n = json_get_str(v, "name");
        json_int_t soft = 0, hard = 0;
        get_int(v, "softLimit", &soft);
        get_int(v, "hardLimit", &hard);
        int r = 0;
        if (!n)
            r = REJECT("Invalid 'ulimits' setting for container '%s': name is required.", name);
        else if (json_object_get(seen, n))
            r = REJECT("Duplicate ulimit '%.32s' in container '%s'.", n, name);
        else if (soft < 0 || hard < 0 || soft > hard)
            r = REJECT("Invalid ulimit '%.32s' for container '%s': softLimit must not be greater "
                       "than hardLimit.",
                       n, name);
        if (r < 0) {
            json_decref(seen);
            return r;
        }
        json_object_set_new(seen, n, json_true());
    }
    json_decref(seen);
    json_int_t tmo;
    if (get_int(c, "stopTimeout", &tmo) && (tmo < 0 || tmo > 120))
        return REJECT("Invalid 'stopTimeout' setting for container '%s': it must be between 0 and "
                      "120 seconds.",
                      name);
    if (get_int(c, "startTimeout", &tmo) && (tmo < 2 || tmo > 120))
        return REJECT("Invalid 'startTimeout' setting for container '%s': it must be between 2 "
                      "and 120 seconds.",
                      name);
    return 0;
}

static int check_memory(const char *name, const json_t *c, struct error **err)
{
    json_int_t cpu = 0, mem = 0, res = 0;
    bool has_mem = get_int(c, "memory", &mem), has_res = get_int(c, "memoryReservation", &res);
    if (get_int(c, "cpu", &cpu) && cpu < 0)
        return REJECT("Invalid 'cpu' setting for container '%s'.", name);
    if (has_mem && mem < MIN_CONTAINER_MEMORY)
        return REJECT("Invalid 'memory' setting for container '%s': the minimum is %d MiB.", name,
                      MIN_CONTAINER_MEMORY);
    if (has_res && res < MIN_CONTAINER_MEMORY)
        return REJECT("Invalid 'memoryReservation' setting for container '%s': the minimum is %d "
                      "MiB.",
                      name, MIN_CONTAINER_MEMORY);
    if (has_mem && has_res && res > mem)
        return REJECT("Invalid setting for container '%s'. 'memoryReservation' must be less than "
                      "or equal to 'memory'.",
                      name);
    return 0;
}

/* Checks one container (everything that does not need the other
 * containers) and appends its normalised form to t->containers. */
static int check_container(struct task *t, const json_t *in, struct error **err)
{
    if (!json_is_object(in))
        return MALFORMED("Each member of containerDefinitions must be an object.");
    const char *name = json_get_str(in, "name");
    if (!name || !*name)
        return REJECT("Container.name should not be null or empty.");
    if (!ecs_name_valid(name))
        return REJECT("Invalid container name '%.256s': up to 255 letters (uppercase and "
                      "lowercase), numbers, underscores, and hyphens are allowed.",
                      name);
    if (find_container(t, name))
        return REJECT("Duplicate container name '%s': container names must be unique within a "
                      "task definition.",
                      name);
    const char *image = json_get_str(in, "image");
    if (!image || !*image)
        return REJECT("Container.image should not be null or empty (container '%s').", name);
    for (const char *p = image; *p; p++)
        if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
            return REJECT("Invalid 'image' setting for container '%s': an image reference has no "
                          "spaces.",
                          name);
    if (json_is_true(member(in, "privileged")))
        return REJECT("Fargate does not support privileged containers (container '%s').", name);
    for (size_t k = 0; k < ARRAY_SIZE(container_unsupported); k++) {
        json_t *v = member(in, container_unsupported[k].member);
        if (v && !(json_is_array(v) && !json_array_size(v)))
            return REJECT("The '%s' parameter %s (container '%s').",
                          container_unsupported[k].member, container_unsupported[k].why, name);
    }
    int r = check_memory(name, in, err);
    if (r < 0)
        return r;

    json_t *c = json_object();
    json_array_append_new(t->containers, c);
    for (size_t k = 0; k < ARRAY_SIZE(container_members); k++) {
        json_t *v = member(in, container_members[k]);
        if (v)
            json_object_set_new(c, container_members[k], copy_clean(v));
    }
    /* Drop what was refused above only when empty, and the lists ECS
     * always answers. */
    for (size_t k = 0; k < ARRAY_SIZE(container_unsupported); k++)
        json_object_del(c, container_unsupported[k].member);
    json_object_del(c, "privileged");
    if (!member(c, "cpu"))
        json_object_set_new(c, "cpu", json_integer(0));
    if (!member(c, "essential"))
        json_object_set_new(c, "essential", json_true());
    static const char *const lists[] = {"environment", "mountPoints", "volumesFrom",
                                        "systemControls"};
    for (size_t k = 0; k < ARRAY_SIZE(lists); k++)
        if (!member(c, lists[k]))
            json_object_set_new(c, lists[k], json_array());

    if ((r = check_ports(t, name, c, err)) < 0)
        return r;
    json_t *hc = json_get_object(c, "healthCheck");
    if (hc && (r = check_health(t, name, hc, err)) < 0)
        return r;
    json_t *lp = json_get_object(c, "linuxParameters");
    if (lp && (r = check_linux(name, lp, err)) < 0)
        return r;
    json_t *lc = json_get_object(c, "logConfiguration");
    if (lc && (r = check_logging(t, name, lc, err)) < 0)
        return r;
    if ((r = check_misc(name, c, err)) < 0)
        return r;

    size_t i;
    json_t *mp;
    json_array_foreach(json_object_get(c, "mountPoints"), i, mp)
    {
        const char *vol = json_get_str(mp, "sourceVolume");
        const char *path = json_get_str(mp, "containerPath");
        if (!vol || !volume_declared(t, vol))
            return REJECT("Invalid 'mountPoints' setting for container '%s': unknown volume "
                          "'%.256s'.",
                          name, vol ? vol : "");
        if (!path || path[0] != '/')
            return REJECT("Invalid 'mountPoints' setting for container '%s': containerPath must "
                          "be an absolute path.",
                          name);
    }
    return 0;
}

/* ---- cross-container rules ---- */

static int index_of(const struct task *t, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(t->containers, i, c)
    {
        if (!strcmp(json_get_str(c, "name"), name))
            return (int)i;
    }
    return -1;
}

/* Depth-first search for a dependsOn cycle through node i; on finding one,
 * writes it as "a -> b -> a" into path. state: 0 new, 1 on the stack, 2
 * done. */
static bool cycle_from(const struct task *t, bool dep[][ECS_TASKDEF_MAX_CONTAINERS], size_t n,
                       int *state, size_t *stack, size_t depth, size_t i, struct buf *path)
{
    state[i] = 1;
    stack[depth] = i;
    for (size_t j = 0; j < n; j++) {
        if (!dep[i][j])
            continue;
        if (state[j] == 1) {
            size_t k = 0;
            while (stack[k] != j)
                k++;
            for (; k <= depth; k++)
                buf_printf(path, "%s -> ",
                           json_get_str(json_array_get(t->containers, stack[k]), "name"));
            buf_puts(path, json_get_str(json_array_get(t->containers, j), "name"));
            return true;
        }
        if (state[j] == 0 && cycle_from(t, dep, n, state, stack, depth + 1, j, path))
            return true;
    }
    state[i] = 2;
    return false;
}

static int check_dependencies(struct task *t, struct error **err)
{
    size_t n = json_array_size(t->containers);
    bool dep[ECS_TASKDEF_MAX_CONTAINERS][ECS_TASKDEF_MAX_CONTAINERS] = {{false}};
    size_t i, k;
    json_t *c, *d;
    json_array_foreach(t->containers, i, c)
    {
        const char *name = json_get_str(c, "name");
        json_array_foreach(json_object_get(c, "volumesFrom"), k, d)
        {
            const char *src = json_get_str(d, "sourceContainer");
            if (!src || !strcmp(src, name) || !find_container(t, src))
                return REJECT("Invalid 'volumesFrom' setting for container '%s': unknown "
                              "container '%.256s'.",
                              name, src ? src : "");
        }
        json_array_foreach(json_object_get(c, "dependsOn"), k, d)
        {
            const char *target = json_get_str(d, "containerName");
            const char *cond = json_get_str(d, "condition");
            int j = target ? index_of(t, target) : -1;
            if (j < 0 || (size_t)j == i)
                return REJECT("Invalid 'dependsOn' setting for container '%s': unknown container "
                              "'%.256s'.",
                              name, target ? target : "");
            json_t *tc = json_array_get(t->containers, (size_t)j);
            if (!cond || (strcmp(cond, "START") != 0 && strcmp(cond, "COMPLETE") != 0 &&
                          strcmp(cond, "SUCCESS") != 0 && strcmp(cond, "HEALTHY") != 0))
                return REJECT("Invalid 'dependsOn' condition for container '%s'.", name);
            if ((!strcmp(cond, "COMPLETE") || !strcmp(cond, "SUCCESS")) &&
                json_is_true(json_object_get(tc, "essential")))
                return REJECT("A dependency container with SUCCESS or COMPLETE condition cannot "
                              "be an essential container ('%s' depends on '%s').",
                              name, target);
            if (!strcmp(cond, "HEALTHY") && !json_get_object(tc, "healthCheck"))
                return REJECT("Container '%s' depends on '%s' being HEALTHY, but '%s' has no "
                              "healthCheck.",
                              name, target, target);
            dep[i][j] = true;
            require(t, "ecs.capability.container-ordering");
        }
    }
    int state[ECS_TASKDEF_MAX_CONTAINERS] = {0};
    size_t stack[ECS_TASKDEF_MAX_CONTAINERS];
    for (i = 0; i < n; i++) {
        if (state[i])
            continue;
        struct buf path;
        buf_init(&path, 4096);
        if (cycle_from(t, dep, n, state, stack, 0, i, &path)) {
            int r = REJECT("Circular dependsOn between containers: %s.", path.data);
            buf_done(&path);
            return r;
        }
        buf_done(&path);
    }
    return 0;
}

static int check_totals(struct task *t, struct error **err)
{
    json_int_t cpu = 0, mem = 0, res = 0;
    size_t i, essential = 0;
    json_t *c;
    json_array_foreach(t->containers, i, c)
    {
        json_int_t m = 0, r = 0;
        bool has_m = get_int(c, "memory", &m), has_r = get_int(c, "memoryReservation", &r);
        cpu += json_get_int(c, "cpu", 0);
        mem += has_m ? m : 0;
        res += has_r ? r : has_m ? m : 0;
        essential += json_is_true(json_object_get(c, "essential"));
    }
    if (!essential)
        return REJECT("A task definition must have at least one essential container.");
    if (cpu > t->cpu)
        return REJECT("The sum of all container 'cpu' values cannot be greater than the value of "
                      "the task 'cpu'.");
    if (mem > t->memory)
        return REJECT("The sum of all container 'memory' values cannot be greater than the value "
                      "of the task 'memory'.");
    if (res > t->memory)
        return REJECT("The sum of all container 'memoryReservation' values cannot be greater than "
                      "the value of the task 'memory'.");
    return 0;
}

static int check_containers_present(const json_t *in, struct error **err)
{
    json_t *defs = json_object_get(in, "containerDefinitions");
    if (!json_is_array(defs))
        return MALFORMED("containerDefinitions must be a list.");
    if (!json_array_size(defs))
        return REJECT("Container list cannot be empty.");
    if (json_array_size(defs) > ECS_TASKDEF_MAX_CONTAINERS)
        return REJECT("Too many containers: a task definition can have at most %d.",
                      ECS_TASKDEF_MAX_CONTAINERS);
    return 0;
}

static int check_containers(const json_t *in, struct task *t, struct error **err)
{
    json_t *defs = json_object_get(in, "containerDefinitions");
    size_t i;
    json_t *c;
    int r;
    json_array_foreach(defs, i, c)
    {
        if ((r = check_container(t, c, err)) < 0)
            return r;
    }
    if ((r = check_dependencies(t, err)) < 0 || (r = check_totals(t, err)) < 0)
        return r;
    return 0;
}

int ecs_taskdef_validate(const json_t *in, json_t **ret_doc, struct error **err)
{
    if (!json_is_object(in))
        return MALFORMED("The request must be an object.");
    struct task t = {
        .doc = json_object(),
        .containers = json_array(),
        .volumes = json_array(),
        .ports = json_object(),
        .attributes = json_object(),
    };
    const char *family = json_get_str(in, "family");
    json_object_set_new(t.doc, "family", json_string(family ? family : ""));
    json_object_set_new(t.doc, "containerDefinitions", t.containers);
    json_object_set_new(t.doc, "volumes", t.volumes);
    int r;
    if ((r = check_family(in, err)) < 0 || (r = check_containers_present(in, err)) < 0 ||
        (r = check_compatibilities(in, &t, err)) < 0 || (r = check_size(in, &t, err)) < 0 ||
        (r = check_task_options(in, &t, err)) < 0 || (r = check_volumes(in, &t, err)) < 0 ||
        (r = check_containers(in, &t, err)) < 0) {
        json_decref(t.doc);
        json_decref(t.ports);
        json_decref(t.attributes);
        return r;
    }
    json_t *attrs = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(t.attributes, k, v)
        json_array_append_new(attrs, json_pack("{s:s}", "name", k));
    json_object_set_new(t.doc, "requiresAttributes", attrs);
    json_decref(t.ports);
    json_decref(t.attributes);
    *ret_doc = t.doc;
    return 0;
}
