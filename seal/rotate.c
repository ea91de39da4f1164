/* Key rotation files and revocation lists (issue 10; docs/FORMAT.md section 9).
 *
 * Rotation: `gatelog keygen --rotate` writes the next key beside the secret key FILE as
 * FILE.next (0600) and FILE.next.pub. The writer announces it in the next manifest (signed by
 * the key in FILE) and signs every later epoch with it. Once that manifest is committed the
 * old secret is no longer needed, and seal_key_rotate_files moves the files so that FILE is
 * again the key in force:
 *
 *   1. FILE.pub  -> FILE.old.pub  (hard link; an older FILE.old.pub is replaced)
 *   2. FILE.next.pub -> FILE.pub  (rename: atomic)
 *   3. FILE      -> FILE.old      (hard link)
 *   4. FILE.next -> FILE          (rename: atomic)
 *
 * FILE always names a valid secret key, so a crash at any step never makes the daemon create
 * a fresh key on start; a half-done dance is finished on the next start (the writer sees that
 * the chain already rotated to the key in FILE.next, see cli/writer.c). Each step is skipped
 * when its source is gone, so the dance can be redone.
 *
 * Revocation list: one "KEY_ID FROM_EPOCH" per line, '#' starts a comment. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "seal/seal.h"

#define REVOKED_LINE_MAX 512
#define KEY_PATH_MAX 4096

int seal_key_load_next(const char *path, struct seal_key **ret, struct seal_error *err)
{
        char next[KEY_PATH_MAX];

        *ret = NULL;
        if (snprintf(next, sizeof(next), "%s.next", path) >= (int)sizeof(next))
                return -ENAMETOOLONG;
        if (access(next, F_OK) != 0)
                return errno == ENOENT ? 0 : -errno;
        return seal_key_load(next, ret, err);
}

/* Says which step of the dance failed and returns -errno (read before formatting, which may
 * change it). Two paths of up to KEY_PATH_MAX do not fit in err->msg: a cut message ends in
 * "..." so that nobody takes the last path shown for the whole one. */
static int step_failed(struct seal_error *err, const char *verb, const char *from,
                       const char *prep, const char *to)
{
        int e = errno;
        int n = snprintf(err->msg, sizeof(err->msg), "cannot %s %s %s %s: %s", verb, from, prep,
                         to, strerror(e));

        if (n >= (int)sizeof(err->msg))
                memcpy(err->msg + sizeof(err->msg) - 4, "...", 4);
        return -e;
}

/* Hard-links from to to, replacing to; 0 when from is absent (the step was done). */
static int keep_old(const char *from, const char *to, struct seal_error *err)
{
        if (access(from, F_OK) != 0)
                return 0;
        if (unlink(to) < 0 && errno != ENOENT)
                goto fail;
        if (link(from, to) < 0)
                goto fail;
        return 0;
fail:
        return step_failed(err, "keep", from, "as", to);
}

static int move_over(const char *from, const char *to, struct seal_error *err)
{
        if (access(from, F_OK) != 0)
                return 0;
        if (rename(from, to) == 0)
                return 0;
        return step_failed(err, "move", from, "over", to);
}

int seal_key_rotate_files(const char *path, struct seal_error *err)
{
        char pub[KEY_PATH_MAX], old[KEY_PATH_MAX], old_pub[KEY_PATH_MAX];
        char next[KEY_PATH_MAX], next_pub[KEY_PATH_MAX];
        int r;

        if (snprintf(pub, sizeof(pub), "%s.pub", path) >= (int)sizeof(pub) ||
            snprintf(old, sizeof(old), "%s.old", path) >= (int)sizeof(old) ||
            snprintf(old_pub, sizeof(old_pub), "%s.old.pub", path) >= (int)sizeof(old_pub) ||
            snprintf(next, sizeof(next), "%s.next", path) >= (int)sizeof(next) ||
            snprintf(next_pub, sizeof(next_pub), "%s.next.pub", path) >= (int)sizeof(next_pub))
                return -ENAMETOOLONG;
        /* The public files first: while FILE.next exists the dance is not finished, and a
         * restart redoes it. */
        if (access(next_pub, F_OK) == 0 && (r = keep_old(pub, old_pub, err)) < 0)
                return r;
        if ((r = move_over(next_pub, pub, err)) < 0)
                return r;
        if (access(next, F_OK) == 0 && (r = keep_old(path, old, err)) < 0)
                return r;
        return move_over(next, path, err);
}

/* ---- revocation lists ---- */

static int revoked_error(struct seal_error *err, const char *path, size_t line, size_t col,
                         const char *what)
{
        snprintf(err->msg, sizeof(err->msg), "%s:%zu:%zu: %s", path, line, col, what);
        return -EBADMSG;
}

/* Parses one line (without '\n'); blank and comment lines are skipped. */
static int revoked_line(struct seal_verifier *v, const char *path, size_t line, char *s,
                        struct seal_error *err)
{
        char *p = s, *id, *num, *end;
        long long from;
        int r;

        char *hash = strchr(s, '#');
        if (hash)
                *hash = '\0';
        while (*p == ' ' || *p == '\t' || *p == '\r')
                p++;
        if (*p == '\0')
                return 0;
        id = p;
        while (*p && *p != ' ' && *p != '\t')
                p++;
        if (*p == '\0')
                return revoked_error(err, path, line, (size_t)(p - s) + 1,
                                     "expected \"KEY_ID FROM_EPOCH\": the epoch is missing");
        *p++ = '\0';
        while (*p == ' ' || *p == '\t')
                p++;
        num = p;
        errno = 0;
        from = strtoll(num, &end, 10);
        if (end == num || errno != 0 || from < 0 || *num == '-' || *num == '+')
                return revoked_error(err, path, line, (size_t)(num - s) + 1,
                                     "FROM_EPOCH is not a non-negative integer");
        while (*end == ' ' || *end == '\t' || *end == '\r')
                end++;
        if (*end != '\0')
                return revoked_error(err, path, line, (size_t)(end - s) + 1,
                                     "unexpected text after FROM_EPOCH");
        r = seal_verifier_revoke(v, id, (int64_t)from);
        if (r == -E2BIG)
                return revoked_error(err, path, line, 1, "too many revoked keys");
        if (r < 0)
                return revoked_error(err, path, line, (size_t)(id - s) + 1,
                                     "KEY_ID is not 64 lowercase hex digits (a key_id as "
                                     "gatelog keygen prints it)");
        return 0;
}

int seal_revoked_load(const char *path, struct seal_verifier *v, struct seal_error *err)
{
        char buf[REVOKED_LINE_MAX];
        size_t line = 0;
        int r = 0;
        FILE *f = fopen(path, "re");

        if (!f) {
                r = -errno;
                snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(errno));
                return r;
        }
        while (r == 0 && fgets(buf, sizeof(buf), f)) {
                size_t n = strlen(buf);

                line++;
                if (n > 0 && buf[n - 1] == '\n')
                        buf[--n] = '\0';
                else if (!feof(f)) {
                        r = revoked_error(err, path, line, sizeof(buf) - 1, "line too long");
                        break;
                }
                r = revoked_line(v, path, line, buf, err);
        }
        fclose(f);
        return r;
}
