/* skiff's load balancer data plane: HTTP/1.1 (L7) and TCP (L4) listeners
 * run by one epoll worker thread per core, active health checks, and
 * reloads that keep established connections. The configuration is JSON
 * (docs/lb.md); a status file reports each target's health. */
#pragma once

#include "base/error.h"

struct lb;

/* Parses config_text, binds every listener in every worker and starts the
 * workers and the health checker. A listener whose address cannot be bound
 * (a port another program holds) is left out, the others serve (see
 * lb_unbound_listeners). On failure nothing keeps running. */
int lb_new(const char *config_text, struct lb **ret, struct error **err);

/* Applies a new configuration: new listeners open, removed ones close,
 * rules and target groups change for new requests, and targets that left
 * get no new requests while in-flight ones finish (they show as draining
 * in the status file). On failure the running configuration stays. */
int lb_reload(struct lb *lb, const char *config_text, struct error **err);

/* The listeners of the running configuration that could not be bound, as
 * "ADDRESS:PORT (reason), ..." (a new string), or NULL when there are
 * none. They are tried again at every reload (skiff-lb's main reloads
 * every few seconds while there are any). */
char *lb_unbound_listeners(struct lb *lb);

/* Stops the workers and closes every connection; NULL-safe. */
void lb_free(struct lb *lb);
