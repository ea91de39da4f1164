/* Least privilege for a daemon started as root without systemd: become run.user/run.group
 * before any file is created (so the store, key, exports and pid file belong to that user),
 * keeping only CAP_NET_BIND_SERVICE while listeners on ports below 1024 are bound, and refuse
 * to keep running as root unless run.allow_root is true. Under systemd (User= or DynamicUser=)
 * or in a container started as a user, the daemon is not root and nothing changes.
 * Each function logs its one line (the state change) and returns 0 or -errno. */
#pragma once
#include <stdbool.h>

#include "cli/config.h"

/* Call first in the daemon, before any thread starts (capabilities are per thread; the user
 * and group change applies to the whole process). keep_bind: a listener needs a port below
 * 1024. */
int privdrop_begin(const struct config *cfg, bool keep_bind);
/* After every listener is bound: drops the kept capability (from the calling thread and the
 * threads it starts afterwards). */
int privdrop_finish(void);
/* Does any listener of the configuration (syslog TCP/UDP, http) use a port 1-1023? */
bool privdrop_needs_bind(const struct config *cfg);
/* Resolves a user (name or numeric id) and group (NULL: the user's primary group).
 * 0, -ENOENT (err says which), or -errno. */
int privdrop_resolve(const char *user, const char *group, unsigned *ret_uid,
                     unsigned *ret_gid, char *err, size_t err_len);
