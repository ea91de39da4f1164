/* The load generator's message mix (bench/loadgen), shared with bench/stages so that the
 * stage benchmark times the same messages the daemon receives under bench/run (issue 12:
 * ten hand-written messages understated rules and canonical JSON by ~30 %). Header-only,
 * no dependency on gatelog's own code: loadgen must not share code with the system under
 * test. The pool is the same for a given seed, format and size in both programs. */
#pragma once
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Messages generated once and then cycled. */
#define POOL_N 8192
/* Longest message (before framing). */
#define MSG_MAX (64 * 1024)

enum kind { K_SSH_OK, K_SSH_FAIL, K_SSH_OTHER, K_SUDO, K_SU, K_PAM, K_USERADD, K_USERMOD,
            K_NGINX_DENY, K_NGINX_OK, K_GATE_JSON, K_UNMAPPED, K__MAX };
static const char *const kind_name[K__MAX] = {
        "sshd_accepted", "sshd_failed", "sshd_other", "sudo", "su", "pam", "useradd",
        "usermod", "nginx_401_403", "nginx_2xx", "gate_json", "unmapped",
};

static const char *const users[] = { "alice", "bob", "carol", "dave", "erin", "frank",
                                     "grace", "heidi", "ivan", "judy", "deploy", "root" };
static const char *const units[] = { "nginx.service", "postgresql.service", "cron.service",
                                     "ssh.service", "docker.service" };
static const char *const paths[] = { "/", "/api/orders", "/admin", "/login", "/static/app.js",
                                     "/api/users/42", "/metrics", "/db/payroll" };

static inline unsigned rnd(unsigned *s) {
        *s = *s * 1103515245u + 12345u;
        return (*s >> 8) & 0xffffff;
}

#define PICK(a, s) a[rnd(s) % (sizeof(a) / sizeof(a[0]))]

/* The text of one message (after the syslog header) and its app, pid and PRI. */
static inline enum kind gen_body(unsigned *s, char *out, size_t len, const char **app, int *pri) {
        unsigned k = rnd(s) % 100, port = 1024 + rnd(s) % 60000;
        const char *u = PICK(users, s);
        char ip[32];
        snprintf(ip, sizeof(ip), "10.%u.%u.%u", rnd(s) % 256, rnd(s) % 256, 1 + rnd(s) % 254);
        *pri = 86; /* authpriv.info */
        if (k < 10) {
                *app = "sshd";
                snprintf(out, len, "Accepted publickey for %s from %s port %u ssh2: ED25519 "
                         "SHA256:K3n0dHVh8eVQmR1ZkWQ3b8l6B2n1xNwZL0iS0M9rYgE", u, ip, port);
                return K_SSH_OK;
        }
        if (k < 18) {
                *app = "sshd";
                snprintf(out, len, "Failed password for %s%s from %s port %u ssh2",
                         k < 14 ? "invalid user " : "", u, ip, port);
                return K_SSH_FAIL;
        }
        if (k < 22) {
                *app = "sshd";
                snprintf(out, len, "Disconnected from user %s %s port %u", u, ip, port);
                return K_SSH_OTHER;
        }
        if (k < 30) {
                *app = "sudo";
                *pri = 85;
                snprintf(out, len, "%s : TTY=pts/%u ; PWD=/home/%s ; USER=root ; "
                         "COMMAND=/usr/bin/systemctl restart %s", u, rnd(s) % 9, u,
                         PICK(units, s));
                return K_SUDO;
        }
        if (k < 32) {
                *app = "su";
                snprintf(out, len, "(to root) %s on pts/%u", u, rnd(s) % 9);
                return K_SU;
        }
        if (k < 42) {
                *app = k < 38 ? "CRON" : "sshd";
                snprintf(out, len, "pam_unix(%s:session): session opened for user %s(uid=%u) "
                         "by (uid=0)", k < 38 ? "cron" : "sshd", k < 38 ? "root" : u,
                         k < 38 ? 0 : 1000 + rnd(s) % 100);
                return K_PAM;
        }
        if (k < 44) {
                *app = "useradd";
                snprintf(out, len, "new user: name=%s, UID=%u, GID=%u, home=/home/%s, "
                         "shell=/bin/bash, from=/dev/pts/0", u, 1001 + rnd(s) % 99,
                         1001 + rnd(s) % 99, u);
                return K_USERADD;
        }
        if (k < 46) {
                *app = "usermod";
                snprintf(out, len, "add '%s' to group 'sudo'", u);
                return K_USERMOD;
        }
        if (k < 66) {
                static const int deny[] = { 401, 403 }, ok[] = { 200, 200, 304 };
                int st = k < 58 ? PICK(deny, s) : PICK(ok, s);
                *app = "nginx";
                *pri = 190;
                snprintf(out, len, "%s - %s [15/Jun/2024:12:%02u:%02u +0000] \"GET %s HTTP/1.1\" "
                         "%d 512 \"-\" \"curl/8.1\"", ip, rnd(s) % 3 ? "-" : u, rnd(s) % 60,
                         rnd(s) % 60, PICK(paths, s), st);
                return k < 58 ? K_NGINX_DENY : K_NGINX_OK;
        }
        if (k < 76) {
                *app = "gate";
                *pri = 134;
                snprintf(out, len, "{\"actor\":\"%s\",\"resource\":\"%s\",\"action\":\"read\","
                         "\"decision\":\"%s\",\"ts\":\"2024-06-15T12:00:00Z\"}", u,
                         PICK(paths, s), rnd(s) % 4 ? "allow" : "deny");
                return K_GATE_JSON;
        }
        if (k < 88) {
                *app = "CRON";
                *pri = 78;
                snprintf(out, len, "(root) CMD (command -v debian-sa1 > /dev/null && "
                         "debian-sa1 1 1)");
        } else if (k < 94) {
                *app = "dhclient";
                *pri = 30;
                snprintf(out, len, "DHCPREQUEST for %s on eth0 to 10.0.0.1 port 67", ip);
        } else {
                *app = "systemd";
                *pri = 30;
                snprintf(out, len, "Started %s - Some Service.", PICK(units, s));
        }
        return K_UNMAPPED;
}

/* Pads body (JSON: a "pad" member) so that the whole message is about want bytes. */
static inline void pad_body(char *body, size_t cap, size_t hdr_len, size_t want, bool is_json) {
        size_t len = strlen(body);
        if (want <= hdr_len + len + 16 || want >= cap)
                return;
        size_t add = want - hdr_len - len;
        if (is_json) {
                /* ..."} -> ...","pad":"xxxx"} */
                body[len - 1] = '\0';
                len--;
                memcpy(body + len, ",\"pad\":\"", 8);
                len += 8;
                add = add > 10 ? add - 10 : 0;
                memset(body + len, 'x', add);
                len += add;
                memcpy(body + len, "\"}", 3);
                return;
        }
        memcpy(body + len, " pad=", 5);
        len += 5;
        add = add > 5 ? add - 5 : 0;
        memset(body + len, 'x', add);
        body[len + add] = '\0';
}

/* The seed loadgen uses when not told. */
#define MIX_SEED_DEFAULT 42u

/* The next message of the mix (RFC 5424 when fmt is 5424, else RFC 3164), unframed, into
 * msg (cap bytes: MSG_MAX + 64 hold any); padded to about size bytes when size is not 0.
 * Advances *seed. Returns the message's length and its kind in *ret_kind. */
static inline size_t mix_message(unsigned *seed, int fmt, size_t size, char *msg, size_t cap,
                                 enum kind *ret_kind)
{
        static const char *const mon[] = { "Jun" };
        char body[MSG_MAX];
        const char *app;
        int pri, ml;
        enum kind k = gen_body(seed, body, sizeof(body) - 64, &app, &pri);
        unsigned h = rnd(seed) % 40, pid = 1000 + rnd(seed) % 60000;
        unsigned mm = rnd(seed) % 60, ss = rnd(seed) % 60, us = rnd(seed) % 1000000;
        char hdr[160];
        int hl = fmt == 5424
                ? snprintf(hdr, sizeof(hdr), "<%d>1 2024-06-15T12:%02u:%02u.%06uZ "
                           "host-%02u %s %u - - ", pri, mm, ss, us, h, app, pid)
                : snprintf(hdr, sizeof(hdr), "<%d>%s 15 12:%02u:%02u host-%02u %s[%u]: ",
                           pri, mon[0], mm, ss, h, app, pid);

        if (size)
                pad_body(body, sizeof(body) - 64, (size_t)hl, size, k == K_GATE_JSON);
        ml = snprintf(msg, cap, "%s%s", hdr, body);
        *ret_kind = k;
        return ml < 0 ? 0 : (size_t)ml < cap ? (size_t)ml : cap - 1;
}
