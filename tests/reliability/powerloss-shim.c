/* A power-loss model for the store (issue 12, tests/integration/test_powerloss.py), loaded
 * into the daemon with LD_PRELOAD.
 *
 * Each fsync or fdatasync of a file whose name ends in ".db" or ".db-wal" copies the file,
 * after the real call returned, to NAME.synced (through a temporary and a rename, so a
 * SIGKILL mid-copy leaves the previous copy). Replacing the database and its WAL by their
 * .synced copies after a SIGKILL gives what a power loss may leave at worst: nothing written
 * after the last sync of each file (SQLite's recovery must then cope, and every event the
 * daemon acknowledged must be there). The copy happens before the call returns to the
 * daemon, so whatever the daemon does after its sync sees the copy made.
 *
 * POWERLOSS_SKIP_THREAD=NAME makes the syncs of the thread called NAME (prctl's name, e.g.
 * "gl-store") leave no copy: that thread then behaves as if it acknowledged without syncing,
 * the broken order the test must catch. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

static pthread_mutex_t copy_mu = PTHREAD_MUTEX_INITIALIZER;

static int ends_with(const char *s, const char *suffix)
{
        size_t n = strlen(s), m = strlen(suffix);

        return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int skipped_thread(void)
{
        const char *skip = getenv("POWERLOSS_SKIP_THREAD");
        char name[17] = "";

        if (!skip || !skip[0])
                return 0;
        (void)prctl(PR_GET_NAME, name, 0, 0, 0);
        return strcmp(name, skip) == 0;
}

/* Copies path to path.synced; errors end the process loudly: a silent failure here would
 * make the test pass for the wrong reason. */
static void shadow(const char *path)
{
        char tmp[PATH_MAX + 32], dst[PATH_MAX + 16], buf[1 << 16];
        int in, out;
        ssize_t n;

        snprintf(tmp, sizeof(tmp), "%s.synced.tmp", path);
        snprintf(dst, sizeof(dst), "%s.synced", path);
        in = open(path, O_RDONLY | O_CLOEXEC);
        out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (in < 0 || out < 0) {
                fprintf(stderr, "powerloss-shim: cannot copy %s: %s\n", path, strerror(errno));
                abort();
        }
        /* In the kernel when it can (the WAL may be tens of MB, copied at every sync); the
         * plain loop where it cannot (n < 0 before anything was copied). */
        off_t copied = 0;
        while ((n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0)) > 0)
                copied += n;
        if (n < 0 && copied == 0) {
                while ((n = read(in, buf, sizeof(buf))) > 0)
                        if (write(out, buf, (size_t)n) != n) {
                                fprintf(stderr, "powerloss-shim: write %s: %s\n", tmp,
                                        strerror(errno));
                                abort();
                        }
        }
        if (n < 0 || close(out) < 0 || rename(tmp, dst) < 0) {
                fprintf(stderr, "powerloss-shim: %s: %s\n", dst, strerror(errno));
                abort();
        }
        close(in);
}

static void after_sync(int fd)
{
        char link[64], path[PATH_MAX];
        ssize_t n;
        struct stat st;

        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return;
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        n = readlink(link, path, sizeof(path) - 1);
        if (n <= 0)
                return;
        path[n] = 0;
        if (!ends_with(path, ".db") && !ends_with(path, ".db-wal"))
                return;
        if (skipped_thread())
                return;
        pthread_mutex_lock(&copy_mu);
        shadow(path);
        pthread_mutex_unlock(&copy_mu);
}

int fdatasync(int fd)
{
        int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
        int r = real(fd);
        int e = errno;

        if (r == 0)
                after_sync(fd);
        errno = e;
        return r;
}

int fsync(int fd)
{
        int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
        int r = real(fd);
        int e = errno;

        if (r == 0)
                after_sync(fd);
        errno = e;
        return r;
}
