/* Syslog listeners: address parsing and the sockets themselves (UDP, TCP, unix datagram).
 *
 * Binding happens before the daemon reports ready, so every error here is a start-up error
 * the caller prints with the listener's name. UDP and unix sockets get a receive buffer of
 * INGEST_RCVBUF (best effort); the kernel's drops are counted from SO_MEMINFO (syslog-net.c).
 * A unix socket file is created 0660 (writers are the owner and the group, by choice, unlike
 * /dev/log's 0666); a stale one (nobody bound) is replaced, a live one or a non-socket file
 * at the path is refused, and on close the file is removed only if it is still ours.
 *
 * Socket activation (ops, issue 9): when systemd (or systemd-socket-activate) passed sockets
 * (sd_listen_fds), a listener whose transport and address are those of a passed socket takes
 * it instead of binding: matched by the socket's type and bound address (sd_is_socket_*),
 * since LISTEN_FDNAMES cannot hold an address (':' separates the names). Passed sockets that
 * match no listener are logged with their names and left alone. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <fcntl.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "core/log.h"
#include "ingest/syslog-net.h"

/* Raised best effort: 4 MiB absorbs a few hundred milliseconds of a busy relay's bursts. */
#define INGEST_RCVBUF (4 * 1024 * 1024)

int ingest_parse_hostport(const char *addr, char **ret_host, uint16_t *ret_port)
{
        const char *colon, *host = addr, *host_end;
        unsigned long port = 0;
        char *h;

        if (!addr || !*addr)
                return -EINVAL;
        if (addr[0] == '[') {
                host = addr + 1;
                host_end = strchr(host, ']');
                if (!host_end || host_end[1] != ':')
                        return -EINVAL;
                colon = host_end + 1;
        } else {
                colon = strrchr(addr, ':');
                if (!colon || memchr(addr, ':', (size_t)(colon - addr)))
                        return -EINVAL;  /* a bare IPv6 literal must be bracketed */
                host_end = colon;
        }
        if (host_end == host || colon[1] == '\0' || strlen(colon + 1) > 5)
                return -EINVAL;
        for (const char *p = colon + 1; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                port = port * 10 + (unsigned long)(*p - '0');
        }
        if (port > 65535)
                return -EINVAL;
        h = strndup(host, (size_t)(host_end - host));
        if (!h)
                return -ENOMEM;
        *ret_host = h;
        *ret_port = (uint16_t)port;
        return 0;
}

void syslog_format_peer(const struct sockaddr_storage *ss, char *out, size_t len)
{
        char a[INET6_ADDRSTRLEN];

        if (ss->ss_family == AF_INET) {
                const struct sockaddr_in *in = (const void *)ss;

                inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
                snprintf(out, len, "%s:%u", a, ntohs(in->sin_port));
        } else if (ss->ss_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const void *)ss;

                inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
                snprintf(out, len, "[%s]:%u", a, ntohs(in6->sin6_port));
        } else {
                snprintf(out, len, "unknown");
        }
}

/* A larger receive buffer absorbs bursts of datagrams while the loop is busy. */
static void sock_raise_rcvbuf(int fd)
{
        int v = INGEST_RCVBUF;

        /* FORCE passes net.core.rmem_max when we have CAP_NET_ADMIN; else the capped one. */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0)
                (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
}

static int listener_bound_port(int fd)
{
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);

        if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
                return -errno;
        if (ss.ss_family == AF_INET)
                return ntohs(((struct sockaddr_in *)&ss)->sin_port);
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static int listener_open_inet(struct listener *l, const char *addr)
{
        struct addrinfo hints = { .ai_flags = AI_PASSIVE };
        struct addrinfo *res = NULL;
        bool tcp = l->transport == INGEST_TCP || l->transport == INGEST_TLS;
        uint16_t port;
        char *host;
        int r, fd, one = 1;

        r = ingest_parse_hostport(addr, &host, &port);
        if (r < 0)
                return r;
        hints.ai_socktype = tcp ? SOCK_STREAM : SOCK_DGRAM;
        r = getaddrinfo(host, NULL, &hints, &res);
        free(host);
        if (r != 0)
                return r == EAI_MEMORY ? -ENOMEM : r == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;
        if (res->ai_family == AF_INET)
                ((struct sockaddr_in *)res->ai_addr)->sin_port = htons(port);
        else
                ((struct sockaddr_in6 *)res->ai_addr)->sin6_port = htons(port);
        fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                r = -errno;
                goto out;
        }
        if (tcp)
                (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        else
                sock_raise_rcvbuf(fd);
        if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
            (tcp && listen(fd, SOMAXCONN) < 0)) {
                r = -errno;
                close(fd);
                goto out;
        }
        l->fd = fd;
        l->port = listener_bound_port(fd);
        r = 0;
out:
        freeaddrinfo(res);
        return r;
}

/* A socket file left by a previous run is removed; a live one (someone answers) or a file
 * that is not a socket is refused. */
static int unix_remove_stale(const char *path, const struct sockaddr_un *sun)
{
        struct stat st;
        int fd, r;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISSOCK(st.st_mode))
                return -EEXIST;
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        r = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
        close(fd);
        if (r == 0)
                return -EADDRINUSE;
        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

static int listener_open_unix(struct listener *l, const char *path)
{
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        struct stat st;
        int fd, r;

        if (!*path || strlen(path) >= sizeof(sun.sun_path))
                return -ENAMETOOLONG;
        memcpy(sun.sun_path, path, strlen(path));
        l->path = strdup(path);
        if (!l->path)
                return -ENOMEM;
        r = unix_remove_stale(path, &sun);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        sock_raise_rcvbuf(fd);
        /* 0660, not /dev/log's 0666: writers are the owner and the group, by choice. */
        if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || chmod(path, 0660) < 0 ||
            stat(path, &st) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        l->fd = fd;
        l->port = -1;
        l->dev = st.st_dev;
        l->ino = st.st_ino;
        return 0;
}

/* ---- socket activation (ops, issue 9) ---- */

/* The passed socket matching cfg, or -1 (none passed, none matches, or an address with port
 * 0, which names no socket in particular). */
static int activated_fd(const struct ingest_listen *cfg)
{
        int n = sd_listen_fds(0);
        bool tcp = cfg->transport == INGEST_TCP || cfg->transport == INGEST_TLS;
        struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV };
        struct addrinfo *res = NULL;
        char *host = NULL, port_s[8];
        uint16_t port;
        int found = -1;

        if (n <= 0)
                return -1;
        if (cfg->transport == INGEST_UNIX) {
                for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n; fd++)
                        if (sd_is_socket_unix(fd, SOCK_DGRAM, -1, cfg->addr, 0) > 0)
                                return fd;
                return -1;
        }
        if (ingest_parse_hostport(cfg->addr, &host, &port) < 0 || port == 0) {
                free(host);
                return -1;
        }
        snprintf(port_s, sizeof(port_s), "%u", port);
        hints.ai_socktype = tcp ? SOCK_STREAM : SOCK_DGRAM;
        if (getaddrinfo(host, port_s, &hints, &res) == 0) {
                for (int fd = SD_LISTEN_FDS_START; found < 0 && fd < SD_LISTEN_FDS_START + n;
                     fd++)
                        if (sd_is_socket_sockaddr(fd, hints.ai_socktype, res->ai_addr,
                                                  (unsigned)res->ai_addrlen, tcp ? 1 : -1) > 0)
                                found = fd;
                freeaddrinfo(res);
        }
        free(host);
        return found;
}

static int listener_take(struct listener *l, const struct ingest_listen *cfg, int fd)
{
        int fl = fcntl(fd, F_GETFL);

        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
            fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
                return -errno;
        if (cfg->transport == INGEST_UNIX) {
                l->path = strdup(cfg->addr);  /* the records' peer; never unlinked by us */
                if (!l->path)
                        return -ENOMEM;
                l->port = -1;
        } else {
                l->port = listener_bound_port(fd);
        }
        if (cfg->transport != INGEST_TCP && cfg->transport != INGEST_TLS)
                sock_raise_rcvbuf(fd);
        l->fd = fd;
        l->activated = true;
        log_info("listener socket from systemd", "transport=%s addr=%s fd=%d",
                 ingest_transport_name(cfg->transport), cfg->addr, fd);
        return 0;
}

void syslog_activation_report(const struct listener *ls, size_t n)
{
        char **names = NULL;
        int nfd = sd_listen_fds_with_names(0, &names);

        for (int i = 0; i < nfd; i++) {
                int fd = SD_LISTEN_FDS_START + i;
                bool used = false;

                for (size_t k = 0; k < n && !used; k++)
                        used = ls[k].activated && ls[k].fd == fd;
                if (!used)
                        log_warn("a socket from systemd matches no syslog listener; unused",
                                 "fd=%d name=%s", fd, names && names[i] ? names[i] : "-");
        }
        for (int i = 0; names && names[i]; i++)
                free(names[i]);
        free(names);
}

int syslog_listener_bind(struct listener *l, const struct ingest_listen *cfg)
{
        int afd;

        l->fd = -1;
        l->transport = cfg->transport;
        afd = activated_fd(cfg);  /* ops (issue 9): socket activation */
        if (afd >= 0)
                return listener_take(l, cfg, afd);
        if (cfg->transport == INGEST_UNIX)
                return listener_open_unix(l, cfg->addr);
        return listener_open_inet(l, cfg->addr);
}

void syslog_listener_unbind(struct listener *l)
{
        struct stat st;

        if (l->fd < 0)
                return;
        close(l->fd);
        l->fd = -1;
        /* Remove the socket file only if it is still the one we made (never systemd's). */
        if (l->path && !l->activated && stat(l->path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
                unlink(l->path);
}

void ingest_listen_clear(struct ingest_listen *l)
{
        struct ingest_tls_options *o;

        if (!l)
                return;
        o = &l->tls_opt;
        free(l->addr);
        free(o->cert);
        free(o->key);
        free(o->ca);
        free(o->ciphers);
        for (size_t i = 0; i < o->n_allowed_names; i++)
                free(o->allowed_names[i]);
        free(o->allowed_names);
        memset(l, 0, sizeof(*l));
}
