/* A growable array of byte strings; see cli/blobs.h. */
#include "cli/blobs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int blobs_add(struct blobs *b, const char *data, size_t len, bool copy) {
        if (b->n == b->alloc) {
                size_t na = b->alloc ? b->alloc * 2 : 256;
                struct seal_blob *v = realloc(b->v, na * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                b->v = v;
                char **o = realloc(b->owned, na * sizeof(*o));
                if (!o)
                        return -ENOMEM;
                b->owned = o;
                b->alloc = na;
        }
        b->owned[b->n] = NULL;
        if (copy) {
                char *c = malloc(len ? len : 1);
                if (!c)
                        return -ENOMEM;
                memcpy(c, data, len);
                b->owned[b->n] = c;
                data = c;
        }
        b->v[b->n++] = (struct seal_blob){ data, len };
        return 0;
}

int blobs_add_lines(struct blobs *b, const char *p, size_t len) {
        size_t start = 0;
        /* memchr: libc's vectorised search (issue 12; verify splits gigabytes this way). */
        for (const char *nl; start < len && (nl = memchr(p + start, '\n', len - start));) {
                int r = blobs_add(b, p + start, (size_t)(nl - p) - start, false);
                if (r < 0)
                        return r;
                start = (size_t)(nl - p) + 1;
        }
        return start < len ? blobs_add(b, p + start, len - start, false) : 0;
}

void blobs_reset(struct blobs *b) {
        for (size_t i = 0; i < b->n; i++)
                free(b->owned[i]);
        b->n = 0;
}

void blobs_free(struct blobs *b) {
        blobs_reset(b);
        free(b->v);
        free(b->owned);
}
