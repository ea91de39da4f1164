/* gatelog verify: checks a database or an export against one pinned public key.
 *
 * The verifier (seal/verify.c) recomputes every root, checks every signature, the prev
 * chain, seq continuity and the per-criterion roots; this file only feeds it epochs, from
 * the store (opened read-only) or from an export folder, and prints what it reports. Exit
 * status 0 only when nothing was found wrong. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/audit-source.h"
#include "cli/blobs.h"
#include "cli/tsa.h"  /* issue 10: RFC 3161 tokens */
#include "cli/verify-kafka.h"  /* issue 6: Kafka offsets across chains */
#include "cli/cli.h"
#include "core/tm.h"
#include "outputs/outputs.h"
#include "outputs/s3.h"  /* issue 7: export_read over folders and s3:// */
#include "seal/seal.h"

static void usage(FILE *f) {
        fprintf(f, "usage: gatelog verify --pubkey FILE (--db FILE | --export DIR) [--chain NAME]\n\n"
                   "Recomputes every Merkle root, checks every signature, the prev chain, seq\n"
                   "continuity and the per-criterion roots. Exit 0 only if all holds; otherwise\n"
                   "each failing epoch and record is named with the reason.\n\n"
                   "  --pubkey FILE   the public key (PEM, as written by gatelog keygen)\n"
                   "  --db FILE       a gatelog SQLite database (opened read-only)\n"
                   "  --export DIR    an export folder (the one holding chain=NAME/), or\n"
                   "                  s3://BUCKET/PREFIX (endpoint and keys from AWS_* variables)\n"
                   "  --chain NAME    which chain of an export (default: every chain)\n"
                   "  -q, --quiet     print problems only\n"
                   "  --since-head FILE  also prove the chain extends that head (a `gatelog head`\n"
                   "                  line or a checkpoint signed by --pubkey): nothing cut or rewritten\n"
                   "  --revoked FILE  revoked keys, lines \"KEY_ID FROM_EPOCH\": a manifest of that\n"
                   "                  epoch or later signed by the key fails\n"
                   "  --tsa-ca FILE   with --export: check each manifest.tsr (RFC 3161 token, see\n"
                   "                  `gatelog timestamp`) against this CA; a bad token fails\n\n"
                   "Key rotation: --pubkey is the chain's first key; a manifest naming \"next_key\"\n"
                   "hands over to that key for the following epochs (docs/FORMAT.md section 9).\n");
}

/* issue 12 (verify7): the shortest record a file can hold, strlen("{\"seq\":0}\n"): a file's
 * size over it bounds the records it holds, for the verifier's size hint. */
#define VERIFY_MIN_LINE 10

/* Problems found here rather than by the verifier (files missing, the open epoch). */
struct report {
        uint64_t n;
        const char *tsa_ca;  /* issue 10: check manifest.tsr tokens against this CA */
        bool since_head;     /* a head anchors the chain: it may be a later range */
};

static void fail(struct report *rp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct report *rp, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fputs("FAIL ", stdout);
        vprintf(fmt, ap);
        fputc('\n', stdout);
        va_end(ap);
        rp->n++;
}

/* Without a head to anchor it, a chain must start at epoch 0: a chain whose first epochs
 * were removed is otherwise a valid chain of its own. */
static void check_chain_start(struct report *rp, const char *chain, int64_t first) {
        if (first > 0 && !rp->since_head)
                fail(rp, "epoch 0 missing: the chain%s%s starts at epoch %lld (epochs 0..%lld "
                     "are gone); to verify a later range, give the head you kept with "
                     "--since-head", chain ? " " : "", chain ? chain : "", (long long)first,
                     (long long)first - 1);
}

/* The manifest's epoch number, or -1 when it cannot be read (the verifier reports that). */
static int64_t manifest_epoch(const char *m, size_t len) {
        json *j = NULL;
        if (!m || json_parse(m, len, &j, NULL) < 0)
                return -1;
        const json *e = json_obj_get(j, "epoch");
        int64_t n = json_type_of(e) == JSON_INT ? json_int(e) : -1;
        json_free(j);
        return n;
}

static void problem_cb(void *ud, int64_t epoch, int64_t seq, const char *what) {
        (void)ud;
        if (seq >= 0)
                printf("FAIL epoch %lld seq %lld: %s\n", (long long)epoch, (long long)seq, what);
        else if (epoch >= 0)
                printf("FAIL epoch %lld: %s\n", (long long)epoch, what);
        else
                printf("FAIL: %s\n", what);
}

/* issue 10, key rotation: says which key the chain moved to. */
static void rotate_cb(void *ud, int64_t epoch, const char *key_id) {
        (void)ud;
        printf("epoch %lld: announces the next signing key, key_id %s\n", (long long)epoch,
               key_id);
}

/* issue 10: a verifier for one chain, with the revocations of --revoked applied. */
static int verifier_make(const uint8_t *pk, const char *revoked, struct seal_verifier **ret) {
        struct seal_error err = { { 0 } };
        int r = seal_verifier_new(pk, problem_cb, NULL, ret);
        if (r < 0)
                return r;
        seal_verifier_on_rotate(*ret, rotate_cb, NULL);
        if (revoked && (r = seal_revoked_load(revoked, *ret, &err)) < 0) {
                fprintf(stderr, "gatelog: --revoked %s\n", err.msg);
                seal_verifier_free(*ret);
                *ret = NULL;
        }
        return r;
}

/* ---- from the database ---- */

struct db_ctx {
        struct store *store;
        struct seal_verifier *v;
        struct report *rp;
        uint64_t n_recs;    /* records of the epoch read so far */
        bool feed;          /* feed them to the verifier (sealed epochs) */
        int64_t sealed, open_epoch, open_first_seq, open_count;
        int64_t next_seq;   /* after the last sealed epoch, from its row */
        int64_t cur_epoch, first_sealed;
        uint64_t db_bytes;  /* issue 12: the database file's size, 0 when unknown */
        int r;
};

/* The columns that queries filter on must say what the signed record says: otherwise a
 * writer of the database could make `gatelog query` show records under another seq, host
 * or time while every root still verifies. */
/* Reports the columns that differ from the record: its seq matches or not, its host when it
 * differs (NULL: same), its received and filing times (INT64_MIN: none to compare). */
static void db_column_fails(struct db_ctx *c, const struct store_record *r, bool seq_ok,
                            const char *host_differs, int64_t received, int64_t t) {
        long long ep = (long long)c->cur_epoch, sq = (long long)r->seq;
        if (!seq_ok)
                fail(c->rp, "epoch %lld seq %lld: the seq column does not match the record's "
                     "seq", ep, sq);
        if (host_differs)
                fail(c->rp, "epoch %lld seq %lld: the host column (%s) does not match the "
                     "record's host (%s)", ep, sq, r->host ? r->host : "null", host_differs);
        if (received != INT64_MIN && received != r->received_us)
                fail(c->rp, "epoch %lld seq %lld: the received column does not match the "
                     "record's received time", ep, sq);
        if (t != INT64_MIN && t != r->time_us)
                fail(c->rp, "epoch %lld seq %lld: the time column does not match the record's "
                     "time", ep, sq);
}

static void db_check_columns_slow(struct db_ctx *c, const struct store_record *r) {
        json *j = NULL;
        if (json_parse(r->data, r->len, &j, NULL) < 0)
                return; /* the verifier reports an unreadable record */
        const json *seq = json_obj_get(j, "seq");
        const char *host = json_str(json_obj_get(j, "host"), NULL);
        size_t tl = 0, rl = 0;
        const char *ts = json_str(json_obj_get(j, "time"), &tl);
        const char *rs = json_str(json_obj_get(j, "received"), &rl);
        int64_t received = INT64_MIN, t = INT64_MIN;
        if (rs)
                (void)tm_parse_rfc3339(rs, rl, 0, &received);
        /* The writer files a record without a readable time under its receipt time. */
        if (!ts || tm_parse_rfc3339(ts, tl, 0, &t) < 0)
                t = received;
        bool host_ok = (host == NULL) == (r->host == NULL) && (!host || !strcmp(host, r->host));
        db_column_fails(c, r, json_type_of(seq) == JSON_INT && json_int(seq) == r->seq,
                        host_ok ? NULL : host ? host : "null", received, t);
        json_free(j);
}

/* issue 12: the same checks on the scanner's view of the record, without a tree; a record
 * whose members the scanner cannot hand over as plain strings takes the full parser. */
static bool span_is(const struct seal_span *sp, const char *s) {
        return s && strlen(s) == sp->len && memcmp(sp->p, s, sp->len) == 0;
}

static void db_check_columns(struct db_ctx *c, const struct store_record *r, int decided,
                             const struct seal_scan *sc) {
        if (!decided || sc->host_kind == SEAL_SCAN_OTHER ||
            sc->time_kind == SEAL_SCAN_OTHER || sc->received_kind == SEAL_SCAN_OTHER) {
                db_check_columns_slow(c, r);
                return;
        }
        int64_t received = INT64_MIN, t = INT64_MIN;
        if (sc->received_kind == SEAL_SCAN_STRING)
                (void)tm_parse_rfc3339(sc->received.p, sc->received.len, 0, &received);
        if (sc->time_kind != SEAL_SCAN_STRING ||
            tm_parse_rfc3339(sc->time.p, sc->time.len, 0, &t) < 0)
                t = received;
        bool host_ok = sc->host_kind == SEAL_SCAN_STRING ? span_is(&sc->host, r->host)
                                                         : r->host == NULL;
        if (!host_ok) {
                db_check_columns_slow(c, r);  /* words it, with both values */
                return;
        }
        db_column_fails(c, r, sc->seq == r->seq, NULL, received, t);
}

static int integrity_cb(void *ud, const char *problem) {
        struct db_ctx *c = ud;
        fail(c->rp, "the database is damaged: %s", problem);
        return 0;
}

/* issue 12: records go straight from SQLite's row to the verifier, never collected. */
static int db_record_cb(void *ud, const struct store_record *r) {
        struct db_ctx *c = ud;
        /* issue 12: epochs are read by seq range (schema 2); a record moved to another epoch
         * or added outside its range shows here. */
        if (r->epoch != c->cur_epoch)
                fail(c->rp, "epoch %lld seq %lld: the epoch column says epoch %lld, but the "
                     "seq lies in epoch %lld's range", (long long)c->cur_epoch,
                     (long long)r->seq, (long long)r->epoch, (long long)c->cur_epoch);
        /* One scan serves the column checks and the verifier (issue 12). */
        struct seal_scan sc;
        int decided = seal_scan_record(r->data, r->len, &sc);
        db_check_columns(c, r, decided, &sc);
        c->n_recs++;
        return c->feed ? seal_verifier_record_scanned(c->v, r->data, r->len, decided, &sc) : 0;
}

static int db_epoch_cb(void *ud, const struct store_epoch *e) {
        struct db_ctx *c = ud;
        if (!e->sealed) {
                c->open_epoch = e->epoch;
                c->open_first_seq = e->first_seq;
                c->open_count = e->count;
                return 0;
        }
        c->cur_epoch = e->epoch;
        if (c->first_sealed < 0)
                c->first_sealed = e->epoch;
        char label[64];
        snprintf(label, sizeof(label), "epoch %lld", (long long)e->epoch);
        int r = seal_verifier_epoch_begin(c->v, label, e->manifest,
                                          e->manifest ? e->manifest_len : 0,
                                          e->manifest ? e->sig : NULL,
                                          e->manifest ? SEAL_SIG_LEN : 0);
        c->feed = true;
        c->n_recs = 0;
        /* issue 12: the arrays sized once, for the row's count but no more than the file
         * could hold (a row is no proof). */
        uint64_t most = c->db_bytes / VERIFY_MIN_LINE;
        if (r >= 0 && e->count > 0)
                seal_verifier_records_expect(c->v, (uint64_t)e->count < most ? (uint64_t)e->count
                                                                             : most);
        if (r >= 0)
                r = store_records_foreach(c->store, e->epoch, db_record_cb, c);
        c->feed = false;
        if (r >= 0)
                r = seal_verifier_records_end(c->v);
        if (r >= 0)
                r = seal_verifier_epoch_end(c->v, false);
        c->sealed++;
        c->next_seq = e->first_seq + e->count;
        return r;
}

static int verify_db(const char *path, struct seal_verifier *v, struct report *rp) {
        struct store_error err = { { 0 } };
        struct db_ctx c = { .v = v, .rp = rp, .open_epoch = -1, .first_sealed = -1 };
        struct stat dst;
        if (stat(path, &dst) == 0 && dst.st_size > 0)
                c.db_bytes = (uint64_t)dst.st_size;
        int r = store_open(path, STORE_READONLY, &c.store, &err);
        /* issue 12 (verify11): a database has no tsc files: no leaves kept for them. */
        (void)seal_verifier_keep_leaves(v, false);
        if (r == -EBADMSG || r == -EPROTO) {
                /* Damaged evidence is a failed check, not a runtime error. */
                fail(rp, "%s: not a readable gatelog database: %s", path, err.msg);
                return 0;
        }
        if (r < 0) {
                fprintf(stderr, "gatelog: %s: %s\n", path, err.msg);
                return -1;
        }
        /* Records are read through indexes; an index that no longer matches its table
         * (a row moved to another epoch behind the index's back) is damage too. */
        r = store_integrity_check(c.store, integrity_cb, &c);
        if (r < 0 && r != -EBADMSG) {
                fprintf(stderr, "gatelog: %s: %s\n", path, store_errmsg(c.store));
                store_close(c.store);
                return -1;
        }
        r = store_epochs_foreach(c.store, db_epoch_cb, &c);
        if (r == -EBADMSG) {
                fail(rp, "%s: the database is damaged: %s", path, store_errmsg(c.store));
                store_close(c.store);
                return 0;
        }
        if (r < 0) {
                fprintf(stderr, "gatelog: %s: %s\n", path, store_errmsg(c.store));
                store_close(c.store);
                return -1;
        }
        check_chain_start(rp, NULL, c.first_sealed);
        /* The open epoch is not signed yet, but it must directly follow the last sealed one:
         * otherwise sealed epochs were cut off the end of the chain. */
        int64_t head = -1;
        if (seal_verifier_head(v, NULL, &head) < 0)
                head = -1;
        if (c.open_epoch < 0)
                fail(rp, "the database has no open epoch: it was cut or never initialised");
        else if (c.open_epoch != head + 1)
                fail(rp, "epoch %lld: missing: the open epoch is %lld but the last sealed epoch "
                     "is %lld (sealed epochs were removed from the end)",
                     (long long)head + 1, (long long)c.open_epoch, (long long)head);
        else if (c.open_first_seq != c.next_seq)
                fail(rp, "epoch %lld (open): first seq %lld does not follow the last sealed "
                     "epoch (next seq %lld)", (long long)c.open_epoch,
                     (long long)c.open_first_seq, (long long)c.next_seq);
        if (c.open_epoch >= 0) {
                c.n_recs = 0;
                c.cur_epoch = c.open_epoch;
                r = store_records_foreach(c.store, c.open_epoch, db_record_cb, &c);
                int64_t max_seq = -1;
                if (r >= 0)
                        r = store_records_max_seq(c.store, &max_seq);
                size_t n_open = (size_t)c.n_recs;
                if (r >= 0 && (int64_t)n_open != c.open_count)
                        fail(c.rp, "epoch %lld (open): %zu records stored, the epoch row says %lld",
                               (long long)c.open_epoch, n_open, (long long)c.open_count);
                if (r >= 0 && n_open > 0 && max_seq != c.open_first_seq + (int64_t)n_open - 1)
                        fail(c.rp, "epoch %lld (open): records do not continue the sequence "
                               "(first %lld, %zu records, highest seq %lld)",
                               (long long)c.open_epoch, (long long)c.open_first_seq, n_open,
                               (long long)max_seq);
                printf("open epoch %lld: %zu records not sealed yet\n", (long long)c.open_epoch,
                       n_open);
        }
        store_close(c.store);
        return 0;
}

/* ---- from an export ---- */

/* issue 12: a folder's record files are read through these buffers, not mapped: on this VM
 * the first touch of every mapped page (1.3 GB per 940k-record epoch) cost more CPU than
 * copying the bytes with read(), and reused buffers stay mapped and in cache. Several, so
 * that the verifier's hashing thread works on some while the next is read and scanned. */
#define VERIFY_READ_BUFS 4
#define VERIFY_READ_BUF (1024 * 1024)

struct read_buf {
        char *p;
        size_t alloc;
        size_t mark;    /* records fed from it, counted from the epoch's first */
};

struct export_ctx {
        struct seal_verifier *v;
        struct report *rp;
        struct blobs recs;  /* the lines of a tsc file given twice */
        /* issue 7: every chain of an export, each with its own verifier (the caller's for
         * the first); the others' counts are added to the report. */
        const uint8_t *pk;
        const char *revoked;  /* issue 10 */
        struct seal_verifier *first;
        size_t n_chains;
        uint64_t more_epochs;
        const char *chain;      /* the chain being read (borrowed for the callbacks) */
        int64_t chain_first;    /* its first epoch number, -1 before one is seen */
        struct verify_kafka *kafka;  /* issue 6: offsets held by two chains */
        struct read_buf bufs[VERIFY_READ_BUFS];  /* issue 12 */
};

static void export_chain_done(struct export_ctx *c) {  /* issue 7 */
        if (c->v == c->first)
                return;
        (void)seal_verifier_finish(c->v);
        c->rp->n += seal_verifier_problems(c->v);
        c->more_epochs += seal_verifier_epochs(c->v);
        seal_verifier_free(c->v);
        c->v = c->first;
}

static int export_chain_cb(void *ud, const char *chain) {  /* issue 7 */
        struct export_ctx *c = ud;
        printf("chain %s\n", chain);
        c->chain = chain;
        c->chain_first = -1;
        if (c->n_chains++ == 0)
                return 0;
        export_chain_done(c);
        int r = verifier_make(c->pk, c->revoked, &c->v);  /* issue 10: --revoked too */
        if (r >= 0)  /* issue 12: the mapped lines stay until each epoch's records end */
                seal_verifier_records_stable(c->v, true);
        return r;
}

/* A tsc=ID/records.jsonl whose id was given twice (it could not be streamed): against the
 * leaf hashes, as seal_verifier_tsc does. */
static int check_tsc_again(struct export_ctx *c, const char *id, const char *p, size_t len) {
        blobs_reset(&c->recs);
        int r = 0;
        for (size_t start = 0; r >= 0 && p && start < len;) {
                const char *nl = memchr(p + start, '\n', len - start);
                size_t end = nl ? (size_t)(nl - p) : len;
                r = blobs_add(&c->recs, p + start, end - start, false);
                start = end + 1;
        }
        return r < 0 ? r : seal_verifier_tsc(c->v, id, c->recs.v, c->recs.n);
}

/* issue 12: reads from fd into p until len bytes or the end; the count, or -errno. */
static long read_full(int fd, char *p, size_t len) {
        size_t have = 0;
        while (have < len) {
                ssize_t k = read(fd, p + have, len - have);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                have += (size_t)k;
        }
        return (long)have;
}

/* seal_read_cb over a descriptor (a tsc=ID file streamed into the verifier). */
static long fd_read_cb(void *ud, void *buf, size_t len) {
        return read_full(*(const int *)ud, buf, len);
}

/* Does the file end with '\n' (or is it empty)? 1, 0, or -errno. */
static int fd_ends_with_newline(int fd) {
        struct stat st;
        char last;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_size == 0)
                return 1;
        ssize_t k = pread(fd, &last, 1, st.st_size - 1);
        if (k < 0)
                return -errno;
        return k == 1 && last == '\n';
}

/* A whole file into *ret (malloc'd), for the rare tsc file checked again. */
static int fd_slurp(int fd, char **ret, size_t *ret_len) {
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        char *p = malloc((size_t)st.st_size + 1);
        if (!p)
                return -ENOMEM;
        size_t have = 0;  /* pread may return less than asked (past 2 GiB on Linux) */
        while (have < (size_t)st.st_size) {
                ssize_t k = pread(fd, p + have, (size_t)st.st_size - have, (off_t)have);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        int e = -errno;
                        free(p);
                        return e;
                }
                if (k == 0)
                        break;
                have += (size_t)k;
        }
        *ret = p;
        *ret_len = have;
        return 0;
}

/* One line of records.jsonl to the verifier and the Kafka check; issue 12: one scan of its
 * bytes serves both (decided: what the scanner answered for exactly these bytes). */
static int feed_scanned(struct export_ctx *c, const char *p, size_t n, int decided,
                        const struct seal_scan *sc) {
        int r = seal_verifier_record_scanned(c->v, p, n, decided, sc);
        return r < 0 ? r : verify_kafka_line_scanned(c->kafka, p, n, decided ? sc : NULL);
}

static int feed_line(struct export_ctx *c, const char *p, size_t n) {
        struct seal_scan sc;
        int decided = seal_scan_record(p, n, &sc);
        return feed_scanned(c, p, n, decided, &sc);
}

/* issue 12 (verify7): the whole lines of [p, p + len) fed; returns the bytes consumed (the
 * partial line left at the end is not), or a negative errno. A line the scanner decides is
 * found by its scan (seal_scan_line: its end is the record's end) instead of a memchr
 * first; any other line is split on '\n' and takes the full path, as before. */
static long feed_lines(struct export_ctx *c, const char *p, size_t len, size_t *fed) {
        size_t start = 0;
        int r = 0;
        while (r >= 0) {
                struct seal_scan sc;
                size_t n;
                if (seal_scan_line(p + start, len - start, &sc, &n)) {
                        r = feed_scanned(c, p + start, n, 1, &sc);
                } else {
                        const char *nl = memchr(p + start, '\n', len - start);
                        if (!nl)
                                break;
                        n = (size_t)(nl - (p + start));
                        r = feed_line(c, p + start, n);
                }
                (*fed)++;
                start += n + 1;
        }
        return r < 0 ? r : (long)start;
}

/* issue 12: records.jsonl from a descriptor through the ring of buffers: each buffer is
 * filled (after the partial line left at the end of the one before), its whole lines fed,
 * and it is reused only once the verifier has hashed the lines fed from it. The lines are
 * the same as the mapped file's split on '\n' (a last line without one included). */
static int feed_records_fd(struct export_ctx *c, int fd) {
        const char *tail = "";  /* the unfed end of the buffer before (n_tail bytes) */
        size_t n_tail = 0, fed = 0;
        bool eof = false;
        int r = 0;
        for (size_t j = 0; r >= 0 && !eof; j = (j + 1) % VERIFY_READ_BUFS) {
                struct read_buf *b = &c->bufs[j];
                size_t need = n_tail + VERIFY_READ_BUF / 2, have = n_tail, start = 0;
                seal_verifier_records_release(c->v, b->mark);  /* its old lines are hashed */
                if (b->alloc < need) {  /* a line longer than a buffer grows the next one */
                        size_t na = need > VERIFY_READ_BUF ? 2 * need : VERIFY_READ_BUF;
                        char *np = realloc(b->p, na);
                        if (!np)
                                return -ENOMEM;
                        b->p = np;
                        b->alloc = na;
                }
                if (n_tail)
                        memcpy(b->p, tail, n_tail);
                long k = read_full(fd, b->p + have, b->alloc - have);
                if (k < 0)
                        return (int)k;
                have += (size_t)k;
                eof = have < b->alloc;
                long used = feed_lines(c, b->p, have, &fed);
                if (used < 0)
                        r = (int)used;
                else
                        start = (size_t)used;
                if (r >= 0 && eof && start < have) {  /* the last line lost its '\n' */
                        r = feed_line(c, b->p + start, have - start);
                        fed++;
                        start = have;
                }
                b->mark = fed;
                tail = b->p + start;
                n_tail = have - start;
        }
        return r;
}

static int export_epoch_cb(void *ud, const struct export_read_epoch *e) {
        struct export_ctx *c = ud;
        /* The folder's number must be the manifest's: a renamed or replayed folder keeps
         * the order of folders but not the chain. */
        const char *num = e->path ? strstr(e->path, "epoch=") : NULL;
        for (const char *p = num; p && (p = strstr(p + 1, "epoch=")); )
                num = p;
        int64_t folder = num ? strtoll(num + 6, NULL, 10) : -1;
        int64_t signed_epoch = manifest_epoch(e->manifest, e->manifest_len);
        if (signed_epoch >= 0 && folder != signed_epoch)
                fail(c->rp, "epoch %lld: %s holds the manifest of epoch %lld", (long long)folder,
                     e->path, (long long)signed_epoch);
        if (c->chain_first < 0) {
                c->chain_first = signed_epoch >= 0 ? signed_epoch : folder;
                check_chain_start(c->rp, c->chain, c->chain_first);
        }
        /* A missing manifest or signature is reported by the verifier itself. issue 12: a
         * record file comes as bytes or, from a folder, as a descriptor (by_fd). */
        int rfd = e->by_fd && !e->records ? e->records_fd : -1, nlr = 1;
        if (rfd >= 0 && (nlr = fd_ends_with_newline(rfd)) < 0)
                return nlr;
        if (!e->records && rfd < 0)
                fail(c->rp, "%s: records.jsonl is missing", e->path);
        else if (!nlr || (e->records && e->records_len > 0 &&
                          e->records[e->records_len - 1] != '\n'))
                fail(c->rp, "%s: records.jsonl does not end with a newline", e->path);
        /* A tsc file has the same form: a last line without its '\n' is a truncated file
         * (the auditor's split on '\n' drops it), not a line that counts. */
        for (size_t i = 0; i < e->n_tsc; i++) {
                int tfd = e->by_fd && !e->tsc_data[i] ? e->tsc_fd[i] : -1, nlt = 1;
                if (tfd >= 0 && (nlt = fd_ends_with_newline(tfd)) < 0)
                        return nlt;
                if (!nlt || (e->tsc_data[i] && e->tsc_len[i] > 0 &&
                             e->tsc_data[i][e->tsc_len[i] - 1] != '\n'))
                        fail(c->rp, "%s: tsc=%s/records.jsonl does not end with a newline",
                             e->path, e->tsc_ids[i]);
        }
        /* issue 12: one pass over records.jsonl, each line hashed as it lies in the file (a
         * mapping for folders), scanned, compared with its line in each tsc=ID file it is
         * tagged with, and offered to the Kafka check, while it is in the CPU's cache. */
        int r = seal_verifier_epoch_begin(c->v, e->path, e->manifest, e->manifest_len,
                                          e->sig, e->sig_len);
        /* issue 12 (verify11): every tsc file is streamed (below), so the epoch's leaves and
         * criteria indexes need not be kept, unless an id comes twice (check_tsc_again). */
        if (r >= 0)
                r = seal_verifier_keep_leaves(c->v, false);
        /* issue 12: size the per-record arrays once; the shortest record a line can hold,
         * {"seq":0} and its '\n', is VERIFY_MIN_LINE bytes. */
        struct stat rst;
        if (r >= 0 && rfd >= 0 && fstat(rfd, &rst) == 0 && rst.st_size > 0)
                seal_verifier_records_expect(c->v, (uint64_t)rst.st_size / VERIFY_MIN_LINE);
        else if (r >= 0 && e->records)
                seal_verifier_records_expect(c->v, e->records_len / VERIFY_MIN_LINE);
        bool *streamed = e->n_tsc ? calloc(e->n_tsc, sizeof(*streamed)) : NULL;
        if (r >= 0 && e->n_tsc && !streamed)
                r = -ENOMEM;
        for (size_t i = 0; r >= 0 && i < e->n_tsc; i++) {
                if (e->by_fd && !e->tsc_data[i] && e->tsc_fd[i] >= 0)  /* issue 12 */
                        r = seal_verifier_tsc_stream_read(c->v, e->tsc_ids[i], fd_read_cb,
                                                          (void *)&e->tsc_fd[i]);
                else
                        r = seal_verifier_tsc_stream(c->v, e->tsc_ids[i], e->tsc_data[i],
                                                     e->tsc_len[i]);
                streamed[i] = r == 0;
                if (r == -EEXIST)  /* checked against the leaves after the records */
                        r = seal_verifier_keep_leaves(c->v, true);
        }
        if (r >= 0)
                r = verify_kafka_chain(c->kafka, c->chain);  /* issue 6 */
        if (r >= 0 && rfd >= 0)
                r = feed_records_fd(c, rfd);
        for (size_t start = 0; r >= 0 && e->records && start < e->records_len;) {
                const char *p = e->records + start;
                const char *nl = memchr(p, '\n', e->records_len - start);
                size_t n = nl ? (size_t)(nl - p) : e->records_len - start;
                r = feed_line(c, p, n);
                start += n + 1;
        }
        if (r >= 0)
                r = seal_verifier_records_end(c->v);
        else  /* a fatal error: the lines must not be read once this returns */
                seal_verifier_records_abandon(c->v);
        for (size_t i = 0; r >= 0 && i < e->n_tsc; i++) {
                char *whole = NULL;  /* issue 12: a descriptor given twice, read whole */
                size_t whole_len = 0;
                if (!streamed[i] && !e->tsc_data[i] && e->by_fd && e->tsc_fd[i] >= 0)
                        r = fd_slurp(e->tsc_fd[i], &whole, &whole_len);
                if (r >= 0)
                        r = streamed[i] ? seal_verifier_tsc_stream_end(c->v, e->tsc_ids[i])
                                        : check_tsc_again(c, e->tsc_ids[i],
                                                          whole ? whole : e->tsc_data[i],
                                                          whole ? whole_len : e->tsc_len[i]);
                free(whole);
        }
        for (size_t j = 0; j < VERIFY_READ_BUFS; j++)
                c->bufs[j].mark = 0;  /* the next epoch counts its records from 0 */
        free(streamed);
        /* issue 10: the RFC 3161 token as the reader found it (folder or s3://); an absent
         * one is not a failure. */
        if (r >= 0 && c->rp->tsa_ca && e->manifest && e->tsr) {
                char when[32] = "", why[512] = "";
                int t = tsa_verify(e->tsr, e->tsr_len, e->manifest, e->manifest_len,
                                   c->rp->tsa_ca, when, why, sizeof(why));
                if (t == 0)
                        printf("%s: time-stamped %s\n", e->path, when);
                else if (t == -ENOMEM)
                        r = t;
                else
                        fail(c->rp, "%s: manifest.tsr: %s", e->path, why);
        }
        if (r >= 0)
                r = seal_verifier_epoch_end(c->v, true);
        return r;
}

static int verify_export(const char *dir, const char *chain, struct seal_verifier *v,
                         const uint8_t *pk, const char *revoked, struct report *rp,
                         uint64_t *ret_epochs) {
        struct export_ctx c = { .v = v, .rp = rp, .pk = pk, .revoked = revoked, .first = v,
                                .chain_first = -1 };
        struct store_error err = { { 0 } };
        struct export_read_ops ops = { export_chain_cb, export_epoch_cb };  /* issue 7 */
        seal_verifier_records_stable(v, true);  /* issue 12: leaves hashed on a second thread */
        int r = verify_kafka_new(&c.kafka);  /* issue 6 */
        if (r >= 0)  /* issue 12: a folder's record files by descriptor, read into c.bufs */
                r = export_read_fds(dir, chain, &ops, &c, &err);
        export_chain_done(&c);
        for (size_t j = 0; j < VERIFY_READ_BUFS; j++)
                free(c.bufs[j].p);
        if (r >= 0)  /* issue 6: Kafka offsets held by two chains must be marked */
                rp->n += verify_kafka_finish(c.kafka, stdout);
        verify_kafka_free(c.kafka);
        *ret_epochs = c.more_epochs;
        blobs_free(&c.recs);
        if (r < 0) {
                fprintf(stderr, "gatelog: %s: %s\n", dir, err.msg[0] ? err.msg : strerror(-r));
                return -1;
        }
        return 0;
}

int cmd_verify(int argc, char **argv) {
        static const struct option opts[] = {
                { "pubkey", required_argument, NULL, 'k' },
                { "db", required_argument, NULL, 'd' },
                { "export", required_argument, NULL, 'e' },
                { "chain", required_argument, NULL, 'C' },
                { "quiet", no_argument, NULL, 'q' },
                { "since-head", required_argument, NULL, 'H' }, /* issue 10 */
                { "revoked", required_argument, NULL, 'R' },    /* issue 10 */
                { "tsa-ca", required_argument, NULL, 'T' },     /* issue 10: RFC 3161 */
                { "help", no_argument, NULL, 'h' },
                { 0 },
        };
        const char *pub = NULL, *db = NULL, *exp = NULL, *chain = NULL;
        const char *since_head = NULL, *revoked = NULL; /* issue 10 */
        const char *tsa_ca = NULL;  /* issue 10: RFC 3161 tokens */
        bool quiet = false;
        int c;
        optind = 1;
        while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
                switch (c) {
                case 'k': pub = optarg; break;
                case 'd': db = optarg; break;
                case 'e': exp = optarg; break;
                case 'C': chain = optarg; break;
                case 'q': quiet = true; break;
                case 'H': since_head = optarg; break;
                case 'R': revoked = optarg; break;
                case 'T': tsa_ca = optarg; break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
        }
        if (!pub || (!db == !exp) || optind != argc) {
                usage(stderr);
                return 2;
        }
        uint8_t pk[SEAL_PK_LEN];
        struct seal_error kerr = { { 0 } };
        if (seal_pubkey_load(pub, pk, &kerr) < 0) {
                fprintf(stderr, "gatelog: %s: %s\n", pub, kerr.msg);
                return 2;
        }
        struct seal_verifier *v = NULL;
        int vr = verifier_make(pk, revoked, &v);  /* issue 10: rotations, --revoked */
        if (vr < 0)
                return vr == -ENOMEM ? 3 : 2;
        struct report rp = { 0, tsa_ca, since_head != NULL };
        /* issue 10: the head an auditor kept; the chain must extend it. */
        struct seal_head head;
        char herr[512];
        int hr = since_head ? audit_head_load(since_head, pk, &head, herr, sizeof(herr)) : 0;
        if (hr < 0) {
                if (hr == -EBADMSG)
                        printf("FAIL head %s\nverification FAILED: the head is not valid\n", herr);
                else
                        fprintf(stderr, "gatelog: --since-head %s\n", herr);
                seal_verifier_free(v);
                return hr == -EBADMSG ? 1 : 2;
        }
        if (since_head)
                seal_verifier_expect_head(v, &head);
        uint64_t more_epochs = 0;  /* issue 7: epochs of the export's other chains */
        int r = db ? verify_db(db, v, &rp) : verify_export(exp, chain, v, pk, revoked, &rp,
                                                                  &more_epochs);
        if (r >= 0 && seal_verifier_finish(v) < 0)
                r = -1;
        uint64_t problems = seal_verifier_problems(v) + rp.n,
                 epochs = seal_verifier_epochs(v) + more_epochs;
        seal_verifier_free(v);
        if (r < 0)
                return 3;
        fflush(stdout);
        if (problems > 0) {
                printf("verification FAILED: %llu problem(s) in %llu epoch(s) checked\n",
                       (unsigned long long)problems, (unsigned long long)epochs);
                return 1;
        }
        if (!quiet)
                printf("OK: %llu sealed epoch(s) verified\n", (unsigned long long)epochs);
        return 0;
}
