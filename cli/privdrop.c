/* Dropping root: user, groups, capabilities.
 *
 * Order matters and follows the usual recipe: supplementary groups (initgroups, so that a
 * user in systemd-journal can read the journal), then the group, then the user, each with
 * setres*id so that no saved id stays 0; then a check that root cannot be regained. When a
 * port below 1024 must still be bound, PR_SET_KEEPCAPS keeps the permitted set across the
 * user change and capset() leaves only CAP_NET_BIND_SERVICE, which privdrop_finish clears
 * once the listeners are bound. NO_NEW_PRIVS then stops any exec from gaining privileges.
 * The process becomes non-dumpable as a side effect of the user change, which keeps other
 * processes of the same user from reading the signing key out of its memory. */
#include "cli/privdrop.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/log.h"
#include "ingest/ingest.h"

static int caps_set(uint32_t caps) {
        struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
        struct __user_cap_data_struct data[2] = { { 0 } };
        data[0].effective = data[0].permitted = caps;
        return syscall(SYS_capset, &hdr, data) < 0 ? -errno : 0;
}

/* Parses a decimal id; false when s is not all digits. */
static bool parse_id(const char *s, unsigned *ret) {
        char *end;
        if (!*s || strspn(s, "0123456789") != strlen(s))
                return false;
        unsigned long v = strtoul(s, &end, 10);
        if (v > 0xfffffffeUL)
                return false;
        *ret = (unsigned)v;
        return true;
}

int privdrop_resolve(const char *user, const char *group, unsigned *ret_uid,
                     unsigned *ret_gid, char *err, size_t err_len) {
        char buf[16384];
        struct passwd pw, *pwp = NULL;
        struct group gr, *grp = NULL;
        unsigned uid, gid;
        bool numeric = parse_id(user, &uid);
        int r = numeric ? getpwuid_r(uid, &pw, buf, sizeof(buf), &pwp)
                        : getpwnam_r(user, &pw, buf, sizeof(buf), &pwp);
        if (!pwp && !numeric) {
                snprintf(err, err_len, "run.user: no user '%s' on this system%s", user,
                         r ? ": " : "");
                if (r)
                        snprintf(err + strlen(err), err_len - strlen(err), "%s", strerror(r));
                return -ENOENT;
        }
        if (pwp) {
                uid = pw.pw_uid;
                gid = pw.pw_gid;
        } else {
                gid = uid; /* a numeric user without an entry: its own group id */
        }
        if (group && !parse_id(group, &gid)) {
                r = getgrnam_r(group, &gr, buf, sizeof(buf), &grp);
                if (!grp) {
                        snprintf(err, err_len, "run.group: no group '%s' on this system", group);
                        return -ENOENT;
                }
                gid = gr.gr_gid;
        }
        *ret_uid = uid;
        *ret_gid = gid;
        return 0;
}

bool privdrop_needs_bind(const struct config *cfg) {
        for (size_t i = 0; i < cfg->syslog.n_listen; i++) {
                char *host = NULL;
                uint16_t port = 0;
                if (cfg->syslog.listen[i].transport == INGEST_UNIX ||
                    ingest_parse_hostport(cfg->syslog.listen[i].addr, &host, &port) < 0)
                        continue;
                free(host);
                if (port > 0 && port < 1024)
                        return true;
        }
        if (cfg->http.enabled && cfg->http.listen) {
                char *host = NULL;
                uint16_t port = 0;
                if (ingest_parse_hostport(cfg->http.listen, &host, &port) == 0) {
                        free(host);
                        if (port > 0 && port < 1024)
                                return true;
                }
        }
        return false;
}

static int become(const char *user, unsigned uid, unsigned gid, bool keep_bind) {
        struct passwd pw, *pwp = NULL;
        char buf[16384];
        if (keep_bind && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
                return -errno;
        (void)getpwuid_r(uid, &pw, buf, sizeof(buf), &pwp);
        gid_t g = gid;
        if ((pwp ? initgroups(pwp->pw_name, g) : setgroups(1, &g)) < 0)
                return -errno;
        if (setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
                return -errno;
        uid_t ru, eu, su;
        gid_t rg, eg, sg;
        if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 || ru != uid ||
            eu != uid || su != uid || rg != gid || eg != gid || sg != gid)
                return -EPERM;
        /* Paranoia, as OpenBSD does: root must be out of reach now. */
        if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
                return -EPERM;
        int r = caps_set(keep_bind ? (1u << CAP_NET_BIND_SERVICE) : 0);
        if (r < 0)
                return r;
        if (keep_bind && prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
                return -errno;
        (void)user;
        return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0;
}

int privdrop_begin(const struct config *cfg, bool keep_bind) {
        char err[256] = "";
        unsigned uid = 0, gid = 0;
        uid_t euid = geteuid();
        if (cfg->run_user && privdrop_resolve(cfg->run_user, cfg->run_group, &uid, &gid, err,
                                              sizeof(err)) < 0) {
                log_error("cannot drop privileges", "error=\"%s\"", err);
                return -ENOENT;
        }
        if (euid != 0) {
                /* Started as a user already (systemd User=, a container): fine when it is
                 * the configured one, or none is configured. */
                if (cfg->run_user && uid != euid) {
                        log_error("cannot change user: not started as root",
                                  "user=%s want_uid=%u uid=%u", cfg->run_user, uid,
                                  (unsigned)euid);
                        return -EPERM;
                }
                return 0;
        }
        if (!cfg->run_user || uid == 0) {
                if (cfg->run_allow_root) {
                        log_warn("running as root", "hint=\"set run.user to drop privileges\"");
                        return 0;
                }
                log_error("refusing to run as root",
                          "hint=\"set run.user (and run.group) to a dedicated user, or "
                          "run.allow_root: true\"");
                return -EPERM;
        }
        int r = become(cfg->run_user, uid, gid, keep_bind);
        if (r < 0) {
                log_error("cannot drop privileges", "user=%s uid=%u gid=%u error=\"%s\"",
                          cfg->run_user, uid, gid, strerror(-r));
                return r;
        }
        log_info("dropped privileges", "user=%s uid=%u gid=%u kept=%s", cfg->run_user, uid, gid,
                 keep_bind ? "cap_net_bind_service" : "none");
        return 0;
}

int privdrop_finish(void) {
        if (getuid() == 0)
                return 0; /* allowed to run as root: nothing was dropped */
        struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
        struct __user_cap_data_struct data[2] = { { 0 } };
        if (syscall(SYS_capget, &hdr, data) < 0)
                return -errno;
        if (!data[0].permitted && !data[1].permitted)
                return 0;
        int r = caps_set(0);
        if (r < 0) {
                log_error("cannot drop capabilities", "error=\"%s\"", strerror(-r));
                return r;
        }
        log_info("dropped capabilities", "kept=none");
        return 0;
}
