/* Feeds the auditor commands sealed epochs from the store or an export folder; see
 * cli/audit-source.h. The store is opened read-only; an export is read through the same
 * reader as `gatelog verify --export`. Memory: no records are kept (issue 12): each is handed
 * to the caller from the store's row or the export's (mapped) records.jsonl. */
#include "cli/audit-source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outputs/outputs.h"

#define STOP_EARLY (-ECANCELED)

struct ctx {
        const struct audit_source *src;
        const struct audit_ops *ops;
        void *ud;
        struct store *store;
};

static int stop(int r) {
        return r > 0 ? STOP_EARLY : r;
}

static int db_record_cb(void *ud, const struct store_record *r) {
        struct ctx *c = ud;
        return stop(c->ops->record(c->ud, r->data, r->len));
}

static int db_epoch_cb(void *ud, const struct store_epoch *se) {
        struct ctx *c = ud;
        if (!se->sealed)
                return 0;
        bool holds = (uint64_t)se->first_seq <= c->src->seq &&
                     c->src->seq - (uint64_t)se->first_seq < (uint64_t)se->count;
        char label[64];
        snprintf(label, sizeof(label), "epoch %lld", (long long)se->epoch);
        struct audit_epoch e = {
                .label = label, .epoch = se->epoch, .first_seq = se->first_seq,
                .count = se->count, .manifest = se->manifest,
                .manifest_len = se->manifest ? se->manifest_len : 0,
                .sig = se->manifest ? se->sig : NULL, .sig_len = se->manifest ? 64 : 0,
        };
        int r = stop(c->ops->epoch(c->ud, &e));
        if (r == 0 && c->ops->record && (!c->src->only_seq || holds))
                r = store_records_foreach(c->store, se->epoch, db_record_cb, c);
        if (r == 0 && c->ops->epoch_end)
                r = stop(c->ops->epoch_end(c->ud, &e));
        return r;
}

/* epoch, first_seq and count from the manifest bytes; -1 for what cannot be read. */
static void manifest_numbers(struct audit_epoch *e) {
        json *m = NULL;
        e->epoch = e->first_seq = e->count = -1;
        if (!e->manifest || json_parse(e->manifest, e->manifest_len, &m, NULL) < 0)
                return;
        const char *keys[3] = { "epoch", "first_seq", "count" };
        int64_t *out[3] = { &e->epoch, &e->first_seq, &e->count };
        for (int i = 0; i < 3; i++) {
                const json *j = json_obj_get(m, keys[i]);
                if (j && json_type_of(j) == JSON_INT && json_int(j) >= 0)
                        *out[i] = json_int(j);
        }
        json_free(m);
}

/* The lines of records.jsonl, as `gatelog verify --export` splits them (memchr; a last line
 * without '\n' is a record too). */
static int export_records(struct ctx *c, const char *p, size_t len) {
        size_t start = 0;
        int r = 0;
        for (const char *nl; r == 0 && start < len &&
                             (nl = memchr(p + start, '\n', len - start));) {
                r = stop(c->ops->record(c->ud, p + start, (size_t)(nl - p) - start));
                start = (size_t)(nl - p) + 1;
        }
        if (r == 0 && start < len)
                r = stop(c->ops->record(c->ud, p + start, len - start));
        return r;
}

static int export_epoch_cb(void *ud, const struct export_read_epoch *x) {
        struct ctx *c = ud;
        struct audit_epoch e = {
                .label = x->path, .manifest = x->manifest, .manifest_len = x->manifest_len,
                .sig = x->sig, .sig_len = x->sig_len,
        };
        manifest_numbers(&e);
        int r = stop(c->ops->epoch(c->ud, &e));
        if (r == 0 && c->ops->record && x->records)
                r = export_records(c, x->records, x->records_len);
        if (r == 0 && c->ops->epoch_end)
                r = stop(c->ops->epoch_end(c->ud, &e));
        return r;
}

int audit_source_stream(const struct audit_source *src, const struct audit_ops *ops, void *ud,
                        char *err, size_t err_len) {
        struct ctx c = { .src = src, .ops = ops, .ud = ud };
        struct store_error se = { { 0 } };
        int r;
        err[0] = '\0';
        if (src->db) {
                r = store_open(src->db, STORE_READONLY, &c.store, &se);
                if (r < 0) {
                        snprintf(err, err_len, "%s: %s", src->db, se.msg);
                        return r;
                }
                r = store_epochs_foreach(c.store, db_epoch_cb, &c);
                if (r < 0 && r != STOP_EARLY)
                        snprintf(err, err_len, "%s: %s", src->db,
                                 store_errmsg(c.store)[0] ? store_errmsg(c.store) : strerror(-r));
                store_close(c.store);
        } else {
                r = export_folder_read(src->export_dir, src->chain, export_epoch_cb, &c, &se);
                if (r < 0 && r != STOP_EARLY)
                        snprintf(err, err_len, "%s: %s", src->export_dir,
                                 se.msg[0] ? se.msg : strerror(-r));
        }
        return r == STOP_EARLY ? 0 : r;
}

int audit_source_foreach(const struct audit_source *src,
                         int (*cb)(void *ud, const struct audit_epoch *e), void *ud,
                         char *err, size_t err_len) {
        struct audit_ops ops = { .epoch = cb };
        return audit_source_stream(src, &ops, ud, err, err_len);
}

#define HEAD_FILE_MAX 65536

int audit_head_load(const char *path, const uint8_t pk[SEAL_PK_LEN], struct seal_head *ret,
                    char *err, size_t err_len) {
        FILE *f = fopen(path, "rb");
        if (!f) {
                int e = errno;
                snprintf(err, err_len, "%s: %s", path, strerror(e));
                return -e;
        }
        char *text = malloc(HEAD_FILE_MAX + 1);
        size_t n = text ? fread(text, 1, HEAD_FILE_MAX + 1, f) : 0;
        fclose(f);
        int r = 0;
        struct seal_error se = { { 0 } };
        if (!text)
                r = -ENOMEM;
        else if (n > HEAD_FILE_MAX)
                r = -E2BIG;
        else
                r = seal_head_parse(text, n, pk, ret, &se);
        if (r < 0)
                snprintf(err, err_len, "%s: %s", path,
                         r == -EBADMSG ? se.msg : strerror(-r));
        free(text);
        return r;
}
