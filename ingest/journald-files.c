/* The journald collector's files (ingest/journald-int.h): opening the journal with its
 * filters, seeking to where the last run stopped, and probing for journal files that
 * sd-journal cannot open (it skips those without telling), so that each is logged and
 * reported by a journal_unreadable record once per daemon run. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "core/log.h"
#include "core/tm.h"
#include "ingest/journald-int.h"
#include "normalize/journald.h"

/* ---- probing for files sd-journal skips ---- */

static bool seen_has(const struct journald_source *s, const struct stat *st)
{
        for (size_t i = 0; i < s->n_seen; i++)
                if (s->seen[i].dev == st->st_dev && s->seen[i].ino == st->st_ino)
                        return true;
        return false;
}

static int seen_add(struct journald_source *s, const struct stat *st)
{
        struct probed *p = realloc(s->seen, (s->n_seen + 1) * sizeof(*p));

        if (!p)
                return -ENOMEM;
        s->seen = p;
        s->seen[s->n_seen++] = (struct probed){ st->st_dev, st->st_ino };
        return 0;
}

static int probe_cb(struct loop *l, void *ud);

/* Probes one file. Returns 1 when it must be looked at again later. */
static int probe_file(struct journald_source *s, const char *path)
{
        const char *files[] = { path, NULL };
        struct stat st;
        sd_journal *j = NULL;
        json *rec = NULL;
        int r;

        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || seen_has(s, &st))
                return 0;
        r = sd_journal_open_files(&j, files, 0);
        sd_journal_close(j);
        if (r >= 0)
                return seen_add(s, &st) < 0 ? 1 : 0;
        if (tm_now_us() - ((int64_t)st.st_mtim.tv_sec * TM_USEC_PER_SEC +
                           st.st_mtim.tv_nsec / 1000) < JOURNALD_PROBE_SETTLE_US)
                return 1;
        if (seen_add(s, &st) < 0)
                return 1;
        log_error("journal file cannot be read; its entries are skipped",
                  "source=%s file=%s error=\"%s\"", s->name, path,
                  r == -ENODATA ? "truncated or not a journal file" : strerror(-r));
        if (norm_journal_unreadable(s->name, path,
                                    r == -ENODATA ? "truncated or not a journal file"
                                                  : strerror(-r), tm_now_us(), &rec) < 0)
                drop_count(s->drops, DROP_OUT_OF_MEMORY, 1);
        else
                journald_emit(s, rec, NULL);
        return 0;
}

static bool is_journal_name(const char *n)
{
        size_t l = strlen(n);

        return (l > 8 && !strcmp(n + l - 8, ".journal")) ||
               (l > 9 && !strcmp(n + l - 9, ".journal~"));
}

static bool is_machine_dir(const char *n)
{
        return strlen(n) == 32 && strspn(n, "0123456789abcdef") == 32;
}

/* Probes the journal files of a directory (and its machine-id subdirectories, as
 * sd_journal_open_directory reads them). Returns how many must be looked at later. */
static int probe_dir(struct journald_source *s, const char *dir, int depth)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        char path[4096];
        int later = 0;

        if (!d)
                return 0;
        while ((de = readdir(d))) {
                if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
                        continue;
                if (is_journal_name(de->d_name))
                        later += probe_file(s, path);
                else if (depth == 0 && is_machine_dir(de->d_name))
                        later += probe_dir(s, path, 1);
        }
        closedir(d);
        return later;
}

void journald_probe(struct journald_source *s)
{
        int later = 0;

        for (size_t i = 0; i < s->n_probe_paths; i++)
                later += s->probe_dirs ? probe_dir(s, s->probe_paths[i], 0)
                                       : probe_file(s, s->probe_paths[i]);
        if (later && s->probe_timer < 0) {
                int t = loop_add_timer(s->loop, JOURNALD_PROBE_SETTLE_US, probe_cb, s);

                s->probe_timer = t >= 0 ? t : -1;
        } else if (!later && s->probe_timer >= 0) {
                loop_del_timer(s->loop, s->probe_timer);
                s->probe_timer = -1;
        }
        journald_hand_flush(s); /* an unreadable record: to gl-journal now */
}

static int probe_cb(struct loop *l, void *ud)
{
        journald_probe(ud);
        return 0;
}

/* ---- opening ---- */

static int add_list(sd_journal *j, const char *field, char *const *vals, size_t n,
                    const char *suffix_if_bare, char *err, size_t err_len)
{
        char m[1024];

        for (size_t i = 0; i < n; i++) {
                bool bare = suffix_if_bare && !strchr(vals[i], '.');
                int r;

                snprintf(m, sizeof(m), "%s%s%s%s", field ? field : "", field ? "=" : "", vals[i],
                         bare ? suffix_if_bare : "");
                r = sd_journal_add_match(j, m, 0);
                if (r < 0) {
                        snprintf(err, err_len, "bad match '%s': %s", m, strerror(-r));
                        return r;
                }
        }
        return 0;
}

static int add_filters(sd_journal *j, const struct journald_config *c, char *err,
                       size_t err_len)
{
        int r = add_list(j, NULL, c->matches, c->n_matches, NULL, err, err_len);

        if (r >= 0)
                r = add_list(j, "_SYSTEMD_UNIT", c->units, c->n_units, ".service", err, err_len);
        if (r >= 0)
                r = add_list(j, "SYSLOG_IDENTIFIER", c->identifiers, c->n_identifiers, NULL, err,
                             err_len);
        if (r >= 0)
                r = add_list(j, "_TRANSPORT", c->transports, c->n_transports, NULL, err, err_len);
        for (int p = 0; r >= 0 && p <= c->max_priority && p < 8; p++) {
                char m[16];

                snprintf(m, sizeof(m), "PRIORITY=%d", p);
                r = sd_journal_add_match(j, m, 0);
        }
        return r;
}

int journald_set_probe_paths(struct journald_source *s, const struct journald_config *c)
{
        static const char *const sys[] = { "/var/log/journal", "/run/log/journal" };
        size_t n = c->directory ? 1 : c->system ? 2 : c->n_files;

        s->probe_paths = calloc(n ? n : 1, sizeof(char *));
        if (!s->probe_paths)
                return -ENOMEM;
        s->probe_dirs = !c->n_files;
        for (size_t i = 0; i < n; i++) {
                const char *p = c->directory ? c->directory : c->system ? sys[i] : c->files[i];

                s->probe_paths[i] = strdup(p);
                if (!s->probe_paths[i])
                        return -ENOMEM;
                s->n_probe_paths++;
        }
        return 0;
}

/* Files mode: sd_journal_open_files refuses the whole list when one file is unreadable,
 * so the readable ones are opened and the others reported by the probe. */
static int open_files(struct journald_source *s, const struct journald_config *c, char *err,
                      size_t err_len)
{
        const char **ok = calloc(c->n_files + 1, sizeof(char *));
        size_t n = 0;
        int r;

        if (!ok)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_files; i++) {
                const char *one[] = { c->files[i], NULL };
                sd_journal *j = NULL;

                if (access(c->files[i], R_OK) < 0) {
                        r = -errno;
                        snprintf(err, err_len, "cannot read %s: %s", c->files[i], strerror(errno));
                        free(ok);
                        return r;
                }
                if (sd_journal_open_files(&j, one, 0) >= 0)
                        ok[n++] = c->files[i];
                sd_journal_close(j);
        }
        r = n ? sd_journal_open_files(&s->j, ok, 0) : -ENODATA;
        if (r < 0)
                snprintf(err, err_len, "cannot open the journal files: %s",
                         n ? strerror(-r) : "none of them is a readable journal file");
        free(ok);
        return r;
}

int journald_open(struct journald_source *s, const struct journald_config *c, char *err,
                        size_t err_len)
{
        int r;

        if (c->directory) {
                r = sd_journal_open_directory(&s->j, c->directory, 0);
                if (r < 0)
                        snprintf(err, err_len, "cannot open the journal directory %s: %s",
                                 c->directory, strerror(-r));
        } else if (c->n_files) {
                r = open_files(s, c, err, err_len);
        } else {
                r = sd_journal_open(&s->j, SD_JOURNAL_LOCAL_ONLY);
                if (r < 0)
                        snprintf(err, err_len, "cannot open the system journal: %s",
                                 strerror(-r));
        }
        if (r < 0)
                return r;
        /* Whole fields: the record keeps up to JOURNALD_FIELD_MAX and says when it cut, and
         * raw_sha256 covers everything. */
        sd_journal_set_data_threshold(s->j, 0);
        return add_filters(s->j, c, err, err_len);
}

int journald_seek_start(struct journald_source *s, const struct journald_config *c,
                      const char *position, char *err, size_t err_len)
{
        int r;

        if (position) {
                bool incl = !strncmp(position, BEFORE_PREFIX, strlen(BEFORE_PREFIX));
                const char *cur = incl ? position + strlen(BEFORE_PREFIX) : position;

                r = sd_journal_seek_cursor(s->j, cur);
                if (r < 0) {
                        snprintf(err, err_len, "stored position '%s' is not a journal cursor: %s",
                                 position, strerror(-r));
                        return r;
                }
                s->resume_cursor = strdup(cur);
                s->resume_inclusive = incl;
                return s->resume_cursor ? 0 : -ENOMEM;
        }
        switch (c->start) {
        case JOURNALD_START_TAIL:
                r = sd_journal_seek_tail(s->j);
                /* Onto the last entry, so that next() gives only newer ones. */
                if (r >= 0)
                        r = sd_journal_previous(s->j);
                break;
        case JOURNALD_START_TIME:
                r = sd_journal_seek_realtime_usec(s->j, (uint64_t)c->start_us);
                break;
        default:
                r = sd_journal_seek_head(s->j);
                break;
        }
        if (r < 0)
                snprintf(err, err_len, "cannot seek the journal: %s", strerror(-r));
        return r < 0 ? r : 0;
}
