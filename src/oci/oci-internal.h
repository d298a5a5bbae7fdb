/* Internals shared by the files of the oci module and its unit tests. */
#pragma once

#include <jansson.h>
#include <stdint.h>

/* Capabilities as a bit mask of CAP_* numbers (linux/capability.h). */
#define OCI_CAP(n) (UINT64_C(1) << (n))

/* Docker's default capability set: CHOWN, DAC_OVERRIDE, FSETID, FOWNER,
 * MKNOD, NET_RAW, SETGID, SETUID, SETFCAP, SETPCAP, NET_BIND_SERVICE,
 * SYS_CHROOT, KILL, AUDIT_WRITE (CapEff 00000000a80425fb). */
uint64_t oci_caps_default(void);
/* "CAP_CHOWN" etc. for a capability number, NULL when unknown. */
const char *oci_cap_name(unsigned cap);

/* The seccomp section of config.json for a process holding caps: Docker's
 * default profile semantics (deny with EPERM by default; an allow-list;
 * namespace-creating clone flags refused; clone3 answers ENOSYS so libcs
 * fall back to clone; AF_VSOCK sockets refused; personality limited to the
 * harmless values; syscall groups unlocked by the capabilities that need
 * them, such as chroot with SYS_CHROOT and process_vm_* with SYS_PTRACE).
 * Built by this code for the architecture skiff was compiled for. */
json_t *oci_seccomp_profile(uint64_t caps);

/* oci_seccomp_profile(caps) compiled to a BPF program with libseccomp, as
 * crun would compile it, base64-encoded for crun's run.oci.seccomp_bpf_data
 * annotation (crun then loads it instead of compiling linux.seccomp at
 * every create). Compiled once per capability set per process;
 * *ret is a new string. Negative errno when libseccomp fails. */
int oci_seccomp_bpf(uint64_t caps, char **ret);
