/* Internal to ingest/: limits on librelp's sessions (connections per listener and per peer,
 * TLS handshake timeout, idle timeout), used by relp.c. Not part of the stage's API.
 *
 * librelp 1.11 has no hook for any of them (no accept callback, no session limit, no timer:
 * its loop waits in epoll_wait without a timeout, and it never tells which socket a message
 * came from). What it does have is a debug-print callback that it calls, on its own thread,
 * with fixed format strings at fixed points: when a session's socket joins or leaves its
 * epoll set, when a TLS handshake finishes, and right before every epoll_wait. The guard
 * reads those lines (relp_guard_dbg) to keep a table of the sessions' sockets, and acts on a
 * socket with shutdown(2): librelp then reads end-of-stream and tears the session down
 * itself. All of it runs on the engine's thread, between librelp's own steps, so a socket
 * is never closed under librelp's feet; each socket's inode is checked before shutdown. */
#pragma once
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/event.h"
#include "ingest/ingest.h"

struct relp_guard;

/* ls: the RELP listeners (the array is copied, the items borrowed: they must outlive the
 * guard), ports[i] the port of ls[i];
 * max_connections: sessions at once over all of them. Returns 0 or -ENOMEM. */
int relp_guard_new(const struct ingest_listen *const *ls, const uint16_t *ports, size_t n,
                   size_t max_connections, struct drop_counters *drops,
                   struct relp_guard **ret);
void relp_guard_free(struct relp_guard *g); /* accepts NULL */

/* librelp's debug line (its format and arguments), on the engine's thread. Returns true
 * when the line was one the guard uses. */
bool relp_guard_dbg(struct relp_guard *g, const char *fmt, va_list ap);
/* librelp's auth-error callback fired (engine thread): when it follows a finished
 * handshake at once (the allow-list is checked after it), that session is refused. */
void relp_guard_auth_failed(struct relp_guard *g);
/* The engine thread waited on the writer until now_mono: idle times restart from there
 * (a sender whose window is full of unacknowledged messages sends nothing: that wait is
 * ours, not its). */
void relp_guard_stalled(struct relp_guard *g, int64_t now_mono);
/* Has the guard seen librelp register its listening sockets (i.e. does this librelp print
 * the lines the guard reads)? Meaningful once the engine waited for the first time. */
bool relp_guard_is_active(const struct relp_guard *g);
/* Sessions open now (engine thread; tests and logs). */
size_t relp_guard_sessions(const struct relp_guard *g);
