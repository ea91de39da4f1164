/* The verifier: checks a chain of sealed epochs, fed one epoch at a time in order, from the
 * database or from an export folder.
 *
 * It trusts nothing but the pinned public key. For each epoch it parses the manifest and
 * checks that it is canonical and of this format, that the signature verifies, that the
 * chain continues (name, number, prev hash, first_seq), that every record is canonical JSON
 * with the next seq, and that the root and each criterion's count and root recompute from
 * the records with the reference tree (merkle_root_of). A problem never stops it: each is
 * reported once through the callback with the epoch and, when it is about one record, the
 * seq, and the walk goes on so that an auditor sees everything wrong in one run.
 *
 * Memory: the epoch's and each listed criterion's tree as they are built (a few KiB each,
 * issue 12 verify11), the seqs of an epoch whose seqs break, and, only when kept for
 * seal_verifier_tsc (seal_verifier_keep_leaves), one leaf hash per record and the indexes of
 * each criterion's records; nothing is kept across epochs but the chain head.
 *
 * This file holds the state, the epoch sequence of calls, heads and the tsc=ID checks; the
 * manifest and chain checks are in verify-manifest.c, the records' in verify-records.c, and
 * the leaf hashing thread in verify-hash.c (issue 12). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tm.h"
#include "seal/verify-int.h"

void vf_report(struct seal_verifier *v, int64_t epoch, int64_t seq, const char *what)
{
        v->problems++;
        if (v->cb)
                v->cb(v->ud, epoch, seq, what);
}

void vf_problem(struct seal_verifier *v, int64_t seq, const char *fmt, ...)
{
        char what[WHAT_MAX_LEN];
        va_list ap;
        int n;

        if (seq >= 0)
                n = snprintf(what, sizeof(what), "%s seq %" PRId64 ": ", v->cur_name, seq);
        else
                n = snprintf(what, sizeof(what), "%s: ", v->cur_name);
        if (n < 0 || (size_t)n >= sizeof(what))
                n = 0;
        va_start(ap, fmt);
        vsnprintf(what + n, sizeof(what) - (size_t)n, fmt, ap);
        va_end(ap);
        vf_report(v, v->cur_epoch, seq, what);
}

void vf_hex_of(const uint8_t h[HASH_LEN], char out[HASH_HEX_LEN])
{
        hash_hex(h, HASH_LEN, out);
}

int seal_verifier_new(const uint8_t pk[SEAL_PK_LEN], seal_problem_cb cb, void *ud,
                      struct seal_verifier **ret)
{
        struct seal_verifier *v = calloc(1, sizeof(*v));

        if (!v)
                return -ENOMEM;
        memcpy(v->pk, pk, SEAL_PK_LEN);
        seal_key_id(pk, v->key_id);
        v->cb = cb;
        v->ud = ud;
        v->cur_epoch = -1;
        v->keep_leaves = true;  /* issue 12 (verify11): seal_verifier_tsc works by default */
        if (merkle_chunked_new(&v->tree) < 0) {
                free(v);
                return -ENOMEM;
        }
        if (pthread_mutex_init(&v->hmu, NULL) != 0) {
                merkle_chunked_free(v->tree);
                free(v);
                return -ENOMEM;
        }
        pthread_cond_init(&v->hwork, NULL);
        pthread_cond_init(&v->hdone, NULL);
        *ret = v;
        return 0;
}

static void epoch_reset(struct seal_verifier *v)
{
        vf_hash_abandon(v);  /* issue 12: no worker outlives the epoch it hashes */
        for (size_t i = 0; i < v->n_crits; i++) {
                free(v->crits[i].id);
                free(v->crits[i].idx);
                merkle_chunked_free(v->crits[i].tree);
        }
        merkle_chunked_reset(v->tree);
        v->n_crits = 0;
        for (size_t i = 0; i < v->n_streams; i++) {
                free(v->streams[i].id);
                free(v->streams[i].buf);
        }
        v->n_streams = 0;
        v->n_leaves = 0;
        v->seqs_on = false;  /* issue 12 (verify9) */
        v->open = false;
}

void seal_verifier_free(struct seal_verifier *v)
{
        if (!v)
                return;
        epoch_reset(v);
        free(v->crits);
        free(v->streams);
        free(v->ring);
        free(v->ring_nt);
        free(v->tags);
        free(v->rtags);
        merkle_chunked_free(v->tree);
        pthread_mutex_destroy(&v->hmu);
        pthread_cond_destroy(&v->hwork);
        pthread_cond_destroy(&v->hdone);
        free(v->leaves);
        free(v->seqs);
        free(v->chain);
        merkle_free(v->log);
        free(v);
}

uint64_t seal_verifier_problems(const struct seal_verifier *v)
{
        return v->problems;
}

uint64_t seal_verifier_epochs(const struct seal_verifier *v)
{
        return v->epochs;
}

int seal_verifier_head(const struct seal_verifier *v, uint8_t ret_hash[HASH_LEN],
                       int64_t *ret_epoch)
{
        if (!v->have_head)
                return -ENOENT;
        if (ret_hash)
                memcpy(ret_hash, v->head_hash, HASH_LEN);
        if (ret_epoch)
                *ret_epoch = v->head_epoch;
        return 0;
}

void seal_verifier_anchor(struct seal_verifier *v, int64_t epoch, const uint8_t prev[HASH_LEN],
                          uint64_t next_seq)
{
        v->have_head = true;
        v->head_epoch = epoch - 1;
        memcpy(v->head_hash, prev, HASH_LEN);
        v->have_seq = true;
        v->next_seq = next_seq;
}

/* issue 12: 1 + the index of the tsc stream of id, 0 when none. */
static size_t stream_of(const struct seal_verifier *v, const char *id, size_t len)
{
        for (size_t i = 0; i < v->n_streams; i++)
                if (strncmp(v->streams[i].id, id, len) == 0 && v->streams[i].id[len] == '\0')
                        return i + 1;
        return 0;
}

struct crit *vf_crit_get_n(struct seal_verifier *v, const char *id, size_t len, bool create)
{
        struct crit *c;

        /* issue 12 (verify8): the length first, then the bytes (was strncmp per criterion,
         * once per tag of every record). An id is a C string: it ends at a NUL inside, as
         * strncmp and strndup end there. */
        len = strnlen(id, len);
        for (size_t i = 0; i < v->n_crits; i++)
                if (v->crits[i].id_len == len && memcmp(v->crits[i].id, id, len) == 0)
                        return &v->crits[i];
        if (!create)
                return NULL;
        if (v->n_crits == v->alloc_crits) {
                size_t na = v->alloc_crits ? 2 * v->alloc_crits : 8;
                struct crit *nc = realloc(v->crits, na * sizeof(*nc));

                if (!nc)
                        return NULL;
                v->crits = nc;
                v->alloc_crits = na;
        }
        c = &v->crits[v->n_crits];
        memset(c, 0, sizeof(*c));
        c->id = strndup(id, len);
        if (!c->id)
                return NULL;
        c->id_len = len;
        c->stream = stream_of(v, id, len);
        v->n_crits++;
        return c;
}

struct crit *vf_crit_get(struct seal_verifier *v, const char *id, bool create)
{
        return vf_crit_get_n(v, id, strlen(id), create);
}

#define TSC_READ_BUF (256 * 1024)  /* bytes read at a time from a tsc file given by cb */

/* issue 12: for a stream read through its callback, makes the window hold need bytes from
 * pos, or all that is left. A line longer than the buffer grows it to the line (a line to
 * compare is at most a record the caller holds). 0, or the reader's error (kept in err). */
static int stream_fill(struct tsc_stream *s, size_t need)
{
        while (!s->eof && s->len - s->pos < need) {
                size_t cap = need > TSC_READ_BUF ? need : TSC_READ_BUF;
                long k;

                if (s->pos > 0) {  /* keep only the unread tail, at the start */
                        memmove(s->buf, s->buf + s->pos, s->len - s->pos);
                        s->len -= s->pos;
                        s->pos = 0;
                }
                if (s->buf_alloc < cap) {
                        char *nb = realloc(s->buf, cap);

                        if (!nb) {
                                s->err = -ENOMEM;
                                break;
                        }
                        s->buf = nb;
                        s->buf_alloc = cap;
                }
                k = s->read_cb(s->read_ud, s->buf + s->len, s->buf_alloc - s->len);
                if (k < 0) {
                        s->err = (int)k;
                        break;
                }
                s->eof = k == 0;
                s->len += (size_t)k;
                s->p = s->buf;
        }
        if (s->err < 0)
                s->eof = true;  /* nothing more is read after an error */
        return s->err;
}

/* issue 12: record i (data, len), the k-th tagged with the stream's id, against its line
 * k: the bytes, then '\n' or the end of the file. Past the first difference, nothing more.
 * data is NULL for a record that holds a raw newline: it can be no line. */
static void stream_compare(struct tsc_stream *s, size_t i, const char *data, size_t len)
{
        size_t left;

        if (s->first_bad != SIZE_MAX || stream_fill(s, len + 1) < 0 || s->pos >= s->len)
                return;  /* a difference already, or no line k: the counts tell */
        left = s->len - s->pos;
        if (!data || len > left || memcmp(s->p + s->pos, data, len) != 0 ||
            (len < left && s->p[s->pos + len] != '\n')) {
                s->first_bad = s->lines;
                s->first_bad_rec = i;  /* issue 12 (verify11): no index array to look in */
                return;
        }
        s->pos += len < left ? len + 1 : len;  /* never past the end */
        s->lines++;
}

int vf_crit_tag(struct seal_verifier *v, struct crit *c, size_t i, const char *data,
                size_t len)
{
        /* A record listing an id twice is tagged once. */
        if (c->n_idx > 0 && c->last == i)
                return 0;
        if (c->stream)
                stream_compare(&v->streams[c->stream - 1], i, data, len);
        if (v->keep_leaves && c->n_idx == c->alloc_idx) {
                size_t na = c->alloc_idx ? 2 * c->alloc_idx : 16;
                size_t *ni = realloc(c->idx, na * sizeof(*ni));

                if (!ni)
                        return -ENOMEM;
                c->idx = ni;
                c->alloc_idx = na;
                vf_advise_huge(ni, na * sizeof(*ni));
        }
        /* issue 12 (verify11): the tree this record's leaf goes to (vf_hash_leaf). */
        if (c->tree && v->n_rtags == v->alloc_rtags) {
                size_t na = v->alloc_rtags ? 2 * v->alloc_rtags : 16;
                struct merkle_chunked **nt = realloc(v->rtags, na * sizeof(*nt));

                if (!nt)
                        return -ENOMEM;
                v->rtags = nt;
                v->alloc_rtags = na;
        }
        if (c->tree)
                v->rtags[v->n_rtags++] = c->tree;
        if (v->keep_leaves)
                c->idx[c->n_idx] = i;
        c->n_idx++;
        c->last = i;
        return 0;
}

/* Does text re-serialise to exactly itself? -ENOMEM on allocation failure. */
int vf_is_canonical(const json *j, const char *text, size_t len)
{
        struct buf b = BUF_INIT;
        int r = json_canon(j, &b);

        if (r == -ENOMEM)
                return r;
        r = r == 0 && b.len == len && memcmp(b.data, text, len) == 0;
        buf_free(&b);
        return r;
}

/* ---- Heads (issue 10) ---- */

void seal_verifier_expect_head(struct seal_verifier *v, const struct seal_head *h)
{
        v->want_head = true;
        v->head = *h;
}

/* Adds the manifest just fed to the log of manifests; notes the root at the head's size. */
static int head_track(struct seal_verifier *v, const char *manifest, size_t len)
{
        uint8_t leaf[HASH_LEN];
        int r;

        if (!v->want_head || v->head_reached)
                return 0;
        if (!v->log && (r = merkle_new(&v->log)) < 0)
                return r;
        merkle_leaf_hash(manifest ? manifest : "", manifest ? len : 0, leaf);
        if ((r = merkle_add_leaf(v->log, leaf)) < 0)
                return r;
        if (merkle_count(v->log) == v->head.tree_size) {
                v->head_reached = true;
                merkle_root(v->log, v->log_root);
                memcpy(v->log_last, v->head_hash, HASH_LEN);
        }
        return 0;
}

int seal_verifier_finish(struct seal_verifier *v)
{
        char what[WHAT_MAX_LEN], a[HASH_HEX_LEN], b[HASH_HEX_LEN];
        int64_t last = (int64_t)v->head.tree_size - 1;
        uint64_t got;

        if (v->in_records)
                seal_verifier_records_end(v);
        got = v->log ? merkle_count(v->log) : 0;
        if (v->open)
                seal_verifier_epoch_end(v, false);
        if (!v->want_head)
                return 0;
        if (!v->head_reached) {
                snprintf(what, sizeof(what), "epoch %" PRId64 ": the chain does not extend the "
                         "head: the head covers %" PRIu64 " sealed epochs (0 to %" PRId64 ") but "
                         "the chain has %" PRIu64 ": epochs were cut off the end (truncated)",
                         got, v->head.tree_size, last, got);
                vf_report(v, (int64_t)got, -1, what);
                return 0;
        }
        if (v->head.has_manifest_hash &&
            memcmp(v->log_last, v->head.manifest_hash, HASH_LEN) != 0) {
                snprintf(what, sizeof(what), "epoch %" PRId64 ": the chain does not extend the "
                         "head: this epoch's manifest hash is %s but the head says %s "
                         "(rewritten)", last, (vf_hex_of(v->log_last, a), a),
                         (vf_hex_of(v->head.manifest_hash, b), b));
                vf_report(v, last, -1, what);
                return 0;
        }
        if (memcmp(v->log_root, v->head.root, HASH_LEN) != 0) {
                snprintf(what, sizeof(what), "epoch %" PRId64 ": the chain does not extend the "
                         "head: its first %" PRIu64 " manifests give the root %s but the head "
                         "says %s (an epoch up to this one was rewritten)", last,
                         v->head.tree_size, (vf_hex_of(v->log_root, a), a),
                         (vf_hex_of(v->head.root, b), b));
                vf_report(v, last, -1, what);
        }
        return 0;
}

int seal_verifier_epoch_begin(struct seal_verifier *v, const char *label, const char *manifest,
                              size_t manifest_len, const uint8_t *sig, size_t sig_len)
{
        struct mf f = { 0 };
        json *m = NULL;
        int r;

        if (v->in_records && (r = seal_verifier_records_end(v)) < 0)
                return r;
        if (v->open)
                seal_verifier_epoch_end(v, false);
        epoch_reset(v);
        v->epochs++;
        v->sig_ok = false;
        r = vf_read_manifest(v, label, manifest, manifest_len, &m, &f);
        if (r == 0 && f.parsed)
                r = vf_check_manifest(v, m, manifest, manifest_len, &f);
        if (r == 0) {
                v->sig_ok = manifest && vf_check_signature(v, manifest, manifest_len, sig,
                                                         sig_len);
                vf_check_chain_name(v, &f);
                vf_check_links(v, &f);
        }
        json_free(m);
        if (r < 0)
                return r;
        f.chain = NULL;
        f.criteria = NULL;
        v->f = f;
        v->known = f.has_first_seq || v->have_seq;
        v->expected = f.has_first_seq ? f.first_seq : v->next_seq;
        if (manifest)
                hash_sha256(manifest, manifest_len, v->pending_hash);
        else
                memset(v->pending_hash, 0, HASH_LEN);
        v->pending_manifest = manifest;
        v->pending_len = manifest_len;
        v->in_records = true;
        return 0;
}

static int record(struct seal_verifier *v, const char *data, size_t len, int decided,
                  const struct seal_scan *sc)
{
        int r;

        if (!v->in_records)
                return -EINVAL;
        r = vf_feed_record(v, data ? data : "", data ? len : 0, decided, sc);
        if (r < 0)
                seal_verifier_records_abandon(v);
        return r;
}

int seal_verifier_record(struct seal_verifier *v, const char *data, size_t len)
{
        return record(v, data, len, 0, NULL);
}

int seal_verifier_record_scanned(struct seal_verifier *v, const char *data, size_t len,
                                 int decided, const struct seal_scan *sc)
{
        return record(v, data, len, decided, sc);
}

void seal_verifier_records_abandon(struct seal_verifier *v)
{
        vf_hash_abandon(v);
        v->in_records = false;
}

int seal_verifier_records_end(struct seal_verifier *v)
{
        int r;

        if (!v->in_records)
                return 0;
        v->in_records = false;
        r = vf_records_check(v, &v->f);
        if (r < 0)
                return r;
        vf_follow_rotation(v, &v->f, v->sig_ok);  /* issue 10 */
        /* The chain moves on even past a bad epoch, so that one tampered epoch is reported
         * once rather than breaking every later link. */
        memcpy(v->head_hash, v->pending_hash, HASH_LEN);
        v->head_epoch = v->f.has_epoch ? v->f.epoch : (v->have_head ? v->head_epoch + 1 : 0);
        v->have_head = true;
        v->open = true;
        r = head_track(v, v->pending_manifest, v->pending_len);
        v->pending_manifest = NULL;
        return r;
}

int seal_verifier_epoch(struct seal_verifier *v, const char *label, const char *manifest,
                        size_t manifest_len, const uint8_t *sig, size_t sig_len,
                        const struct seal_blob *records, size_t n_records)
{
        int r = seal_verifier_epoch_begin(v, label, manifest, manifest_len, sig, sig_len);

        if (r == 0)
                r = vf_leaves_reserve(v, n_records);
        for (size_t i = 0; r == 0 && i < n_records; i++)
                r = seal_verifier_record(v, records[i].data, records[i].len);
        if (r < 0) {
                seal_verifier_records_abandon(v);
                return r;
        }
        return seal_verifier_records_end(v);
}

const size_t *seal_verifier_tagged(const struct seal_verifier *v, const char *id,
                                   size_t *ret_n)
{
        for (size_t i = 0; v->keep_leaves && i < v->n_crits; i++)
                if (strcmp(v->crits[i].id, id) == 0) {
                        *ret_n = v->crits[i].n_idx;
                        return v->crits[i].idx;
                }
        *ret_n = 0;
        return NULL;
}

/* Reports on tsc=id: n_lines lines, line first_bad (SIZE_MAX: none) the first that is not
 * the record it should be, bad_rec the index of that record (issue 12, verify11: no index
 * array to look it up in). */
static int tsc_result(struct seal_verifier *v, const char *id, size_t n_lines,
                      size_t first_bad, size_t bad_rec)
{
        struct crit *c;

        if (v->in_records)
                seal_verifier_records_end(v);
        if (!v->open)
                return -EINVAL;
        c = vf_crit_get(v, id, false);
        if (!c || !c->in_manifest) {
                vf_problem(v, -1, "tsc=%s/records.jsonl is present but the manifest lists no "
                        "criterion \"%s\"", id, id);
                return 0;
        }
        if (c->file_seen)
                vf_problem(v, -1, "tsc=%s/records.jsonl given twice", id);
        c->file_seen = true;
        if (n_lines != c->n_idx)
                vf_problem(v, -1, "tsc=%s/records.jsonl has %zu records but %zu of the epoch's "
                        "records are tagged with it", id, n_lines, c->n_idx);
        if (first_bad < n_lines && first_bad < c->n_idx)
                /* Later lines are shifted too: one report says it. */
                vf_problem(v, vf_seq_of(v, bad_rec), "tsc=%s/records.jsonl line "
                        "%zu is not this record (the %zu. tagged with %s); the file "
                        "differs from there on", id, first_bad + 1, first_bad + 1, id);
        return 0;
}

int seal_verifier_tsc(struct seal_verifier *v, const char *id, const struct seal_blob *records,
                      size_t n_records)
{
        size_t n_idx = 0, first_bad = SIZE_MAX;
        const size_t *idx;

        if (v->in_records)
                seal_verifier_records_end(v);
        if (!v->open || !v->keep_leaves)
                return -EINVAL;
        idx = seal_verifier_tagged(v, id, &n_idx);
        for (size_t i = 0; idx && i < n_records && i < n_idx; i++) {
                uint8_t leaf[HASH_LEN];

                merkle_leaf_hash(records[i].data, records[i].len, leaf);
                if (memcmp(leaf, v->leaves[idx[i]], HASH_LEN) != 0) {
                        first_bad = i;
                        break;
                }
        }
        return tsc_result(v, id, n_records, first_bad, first_bad < n_idx ? idx[first_bad] : 0);
}

int seal_verifier_tsc_stream(struct seal_verifier *v, const char *id, const char *data,
                             size_t len)
{
        size_t id_len = strlen(id);
        struct tsc_stream *s;
        struct crit *c;

        if (!v->in_records || v->n_leaves > 0)
                return -EINVAL;
        if (stream_of(v, id, id_len))
                return -EEXIST;
        if (v->n_streams == v->alloc_streams) {
                size_t na = v->alloc_streams ? 2 * v->alloc_streams : 8;
                struct tsc_stream *ns = realloc(v->streams, na * sizeof(*ns));

                if (!ns)
                        return -ENOMEM;
                v->streams = ns;
                v->alloc_streams = na;
        }
        s = &v->streams[v->n_streams];
        *s = (struct tsc_stream){ .id = strdup(id), .p = data ? data : "",
                                  .len = data ? len : 0, .first_bad = SIZE_MAX,
                                  .eof = true };
        if (!s->id)
                return -ENOMEM;
        v->n_streams++;
        c = vf_crit_get_n(v, id, id_len, false);
        if (c)
                c->stream = v->n_streams;
        return 0;
}

int seal_verifier_keep_leaves(struct seal_verifier *v, bool keep)
{
        /* Not while records are fed (idx half kept) nor before the tsc checks that read them. */
        if ((v->in_records && v->n_leaves > 0) || (!v->in_records && v->open))
                return -EINVAL;
        v->keep_leaves = keep;
        return 0;
}

int seal_verifier_tsc_stream_read(struct seal_verifier *v, const char *id, seal_read_cb cb,
                                  void *ud)
{
        int r = seal_verifier_tsc_stream(v, id, NULL, 0);

        if (r == 0) {
                struct tsc_stream *s = &v->streams[v->n_streams - 1];

                s->read_cb = cb;
                s->read_ud = ud;
                s->eof = false;
        }
        return r;
}

int seal_verifier_tsc_stream_end(struct seal_verifier *v, const char *id)
{
        size_t k = stream_of(v, id, strlen(id)), lines;
        struct tsc_stream *s;
        char last = '\n';

        if (!k)
                return -ENOENT;
        if (v->in_records)
                seal_verifier_records_end(v);
        s = &v->streams[k - 1];
        /* The lines matched, then the rest as seal_verifier_tsc splits them: a last line
         * without '\n' counts, an empty tail does not. pos is always at a line's start. */
        lines = s->lines;
        for (;;) {
                for (const char *at = s->p + s->pos, *end = s->p + s->len;
                     (at = memchr(at, '\n', (size_t)(end - at))); at++)
                        lines++;
                if (s->pos < s->len)
                        last = s->p[s->len - 1];
                s->pos = s->len;
                if (s->eof || stream_fill(s, 1) < 0)
                        break;
        }
        if (s->err < 0)
                return s->err;
        if (last != '\n')
                lines++;
        return tsc_result(v, id, lines, s->first_bad, s->first_bad_rec);
}

int seal_verifier_epoch_end(struct seal_verifier *v, bool expect_tsc_files)
{
        if (v->in_records)
                seal_verifier_records_end(v);
        if (!v->open)
                return 0;
        for (size_t k = 0; expect_tsc_files && k < v->n_crits; k++) {
                const struct crit *c = &v->crits[k];

                if (c->in_manifest && c->m_count > 0 && !c->file_seen)
                        vf_problem(v, -1, "criterion \"%s\" has no tsc=%s/records.jsonl file",
                                c->id, c->id);
        }
        v->open = false;
        return 0;
}
