/* rules benchmark: how fast the default SOC 2 pack maps a realistic mix of log lines.
 *
 * Generates a pool of 65,536 distinct lines (sshd, sudo, su, PAM, account lifecycle,
 * logind, systemd units, dpkg, kernel/auditd, nginx and envoy access lines, JSON gate
 * events, and unmapped noise, in proportions typical of a Linux fleet), then cycles through
 * it for --lines events twice: once only normalising (the baseline), once normalising and
 * applying the pack. It prints events/s of both, the rules' own cost per event, how the
 * records were mapped, and the peak RSS. It prints; it asserts nothing.
 *
 * usage: rules-bench [--rules PATH]... [--lines N] [--hmac-key-demo] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/json.h"
#include "core/tm.h"
#include "rules/rules.h"
#include "bench/bench-pack.h"

#define POOL 65536

static const char *const users[] = { "alice", "bob", "carol", "dave", "erin", "frank",
                                     "grace", "heidi", "ivan", "judy", "deploy", "root" };
static const char *const units[] = { "nginx.service", "postgresql.service", "cron.service",
                                     "ssh.service", "docker.service", "envoy.service" };
static const char *const pkgs[] = { "openssl", "nginx", "curl", "libc6", "openssh-server" };
static const char *const paths[] = { "/", "/api/orders", "/admin", "/login", "/static/app.js",
                                     "/api/users/42", "/metrics" };

static unsigned rnd(unsigned *s)
{
        *s = *s * 1103515245u + 12345u;
        return (*s >> 8) & 0xffffff;
}

#define PICK(a, s) a[rnd(s) % (sizeof(a) / sizeof(a[0]))]
#define HDR "<%d>1 2024-06-15T12:%02u:%02u.%06uZ host-%02u %s %u - - "

static int gen_line(unsigned *s, char *out, size_t len)
{
        unsigned k = rnd(s) % 100, mm = rnd(s) % 60, ss = rnd(s) % 60, us = rnd(s) % 1000000;
        unsigned h = rnd(s) % 40, pid = 1000 + rnd(s) % 60000, port = 1024 + rnd(s) % 60000;
        const char *u = PICK(users, s);
        char ip[32];

        snprintf(ip, sizeof(ip), "10.%u.%u.%u", rnd(s) % 256, rnd(s) % 256, 1 + rnd(s) % 254);
        if (k < 10)
                return snprintf(out, len, HDR "Accepted publickey for %s from %s port %u ssh2: "
                                "ED25519 SHA256:K3n0dHVh8eVQmR1ZkWQ3b8l6B2n1xNwZL0iS0M9rYgE",
                                86, mm, ss, us, h, "sshd", pid, u, ip, port);
        if (k < 16)
                return snprintf(out, len, HDR "Failed password for %s%s from %s port %u ssh2",
                                86, mm, ss, us, h, "sshd", pid, k < 13 ? "invalid user " : "",
                                u, ip, port);
        if (k < 20)
                return snprintf(out, len, HDR "Disconnected from user %s %s port %u", 86, mm, ss,
                                us, h, "sshd", pid, u, ip, port);
        if (k < 24)
                return snprintf(out, len, HDR "Connection closed by %s port %u [preauth]", 86,
                                mm, ss, us, h, "sshd", pid, ip, port);
        if (k < 30)
                return snprintf(out, len, HDR "%s : TTY=pts/%u ; PWD=/home/%s ; USER=root ; "
                                "COMMAND=/usr/bin/systemctl restart %s", 85, mm, ss, us, h,
                                "sudo", pid, u, rnd(s) % 9, u, PICK(units, s));
        if (k < 32)
                return snprintf(out, len, HDR "(to root) %s on pts/%u", 86, mm, ss, us, h, "su",
                                pid, u, rnd(s) % 9);
        if (k < 42)
                return snprintf(out, len, HDR "pam_unix(cron:session): session opened for user "
                                "root(uid=0) by (uid=0)", 86, mm, ss, us, h, "CRON", pid);
        if (k < 44)
                return snprintf(out, len, HDR "pam_unix(sshd:session): session opened for user "
                                "%s(uid=1000) by (uid=0)", 86, mm, ss, us, h, "sshd", pid, u);
        if (k < 45)
                return snprintf(out, len, HDR "new user: name=%s, UID=1001, GID=1001, "
                                "home=/home/%s, shell=/bin/bash, from=/dev/pts/0", 86, mm, ss,
                                us, h, "useradd", pid, u, u);
        if (k < 46)
                return snprintf(out, len, HDR "add '%s' to group 'sudo'", 86, mm, ss, us, h,
                                "usermod", pid, u);
        if (k < 49)
                return snprintf(out, len, HDR "New session %u of user %s.", 38, mm, ss, us, h,
                                "systemd-logind", pid, rnd(s) % 5000, u);
        if (k < 55)
                return snprintf(out, len, HDR "Started %s - Some Service.", 30, mm, ss, us, h,
                                "systemd", 1u, PICK(units, s));
        if (k < 57)
                return snprintf(out, len, HDR "%s: Failed with result 'exit-code'.", 30, mm, ss,
                                us, h, "systemd", 1u, PICK(units, s));
        if (k < 59)
                return snprintf(out, len, HDR "upgrade %s:amd64 3.0.11-1~deb12u1 "
                                "3.0.13-1~deb12u2", 14, mm, ss, us, h, "dpkg", pid,
                                PICK(pkgs, s));
        if (k < 62)
                return snprintf(out, len, HDR "type=USER_LOGIN msg=audit(1718452800.%03u:%u): "
                                "pid=%u uid=0 auid=1000 ses=3 msg='op=login acct=\"%s\" "
                                "exe=\"/usr/sbin/sshd\" hostname=? addr=%s terminal=ssh "
                                "res=success'", 85, mm, ss, us, h, "audit", pid, rnd(s) % 1000,
                                rnd(s), pid, u, ip);
        if (k < 80) {
                static const int st[] = { 200, 200, 200, 200, 304, 404, 401, 403 };
                return snprintf(out, len, HDR "%s - %s [15/Jun/2024:12:%02u:%02u +0000] \"GET %s "
                                "HTTP/1.1\" %d 512 \"-\" \"curl/8.1\"", 190, mm, ss, us, h,
                                "nginx", pid, ip, rnd(s) % 3 ? "-" : u, mm, ss, PICK(paths, s),
                                PICK(st, s));
        }
        if (k < 84)
                return snprintf(out, len, "{\"actor\":\"%s\",\"resource\":\"%s\",\"action\":"
                                "\"read\",\"decision\":\"%s\",\"ts\":\"2024-06-15T12:00:00Z\"}",
                                u, PICK(paths, s), rnd(s) % 4 ? "allow" : "deny");
        if (k < 92)
                return snprintf(out, len, HDR "(root) CMD (command -v debian-sa1 > /dev/null && "
                                "debian-sa1 1 1)", 78, mm, ss, us, h, "CRON", pid);
        return snprintf(out, len, HDR "DHCPREQUEST for %s on eth0 to 10.0.0.1 port 67", 30, mm,
                        ss, us, h, "dhclient", pid, ip);
}

static double now_s(void)
{
        return (double)tm_mono_us() / 1e6;
}

int main(int argc, char **argv)
{
        const char *rpaths[16];
        size_t n_rpaths = 0, lines = 1000000, unmapped = 0, dropped = 0, mapped = 0;
        char **pool = calloc(POOL, sizeof(*pool));
        struct rules_pack *p;
        struct rusage ru;
        unsigned seed = 42;
        double t0, t_norm, t_all;

        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--rules") && i + 1 < argc && n_rpaths < 16)
                        rpaths[n_rpaths++] = argv[++i];
                else if (!strcmp(argv[i], "--lines") && i + 1 < argc)
                        lines = strtoul(argv[++i], NULL, 10);
                else {
                        fprintf(stderr, "usage: rules-bench [--rules PATH]... [--lines N]\n");
                        return 2;
                }
        }
        if (!pool)
                return 3;
        p = bench_pack_load(rpaths, n_rpaths, "rules-bench");
        if (!p)
                return 1;
        for (size_t i = 0; i < POOL; i++) {
                char line[1024];
                int n = gen_line(&seed, line, sizeof(line));
                pool[i] = strndup(line, (size_t)n);
                if (!pool[i])
                        return 3;
        }
        t0 = now_s();
        for (size_t i = 0; i < lines; i++) {
                const char *l = pool[i % POOL];
                json *rec = NULL;

                if (rules_event_from_text(l, strlen(l), RULES_INPUT_AUTO, 0, &rec) < 0)
                        return 3;
                json_free(rec);
        }
        t_norm = now_s() - t0;
        t0 = now_s();
        for (size_t i = 0; i < lines; i++) {
                const char *l = pool[i % POOL], *rid;
                enum rules_verdict v;
                json *rec = NULL;

                if (rules_event_from_text(l, strlen(l), RULES_INPUT_AUTO, 0, &rec) < 0 ||
                    rules_apply(p, rec, &v, &rid) < 0)
                        return 3;
                if (v == RULES_DROP)
                        dropped++;
                else if (!rid)
                        unmapped++;
                else
                        mapped++;
                json_free(rec);
        }
        t_all = now_s() - t0;
        getrusage(RUSAGE_SELF, &ru);
        printf("rules-bench: %zu events, pack %zu rules (sha256 %.12s...)\n", lines,
               rules_pack_n_rules(p), rules_pack_hash(p));
        printf("  normalize only      %10.0f events/s\n", (double)lines / t_norm);
        printf("  normalize + rules   %10.0f events/s\n", (double)lines / t_all);
        printf("  rules alone         %10.0f events/s (%.2f us/event)\n",
               t_all > t_norm ? (double)lines / (t_all - t_norm) : 0.0,
               (t_all - t_norm) * 1e6 / (double)lines);
        printf("  mapped %zu, unmapped %zu, dropped %zu\n", mapped, unmapped, dropped);
        printf("  peak RSS            %10ld KiB\n", ru.ru_maxrss);
        rules_pack_free(p);
        for (size_t i = 0; i < POOL; i++)
                free(pool[i]);
        free(pool);
        return 0;
}
