/* Growable byte buffer with a hard cap.
 *
 * Used for every serialisation and frame assembly, so appends are amortised O(1) (the
 * allocation doubles) and the cap is checked before any byte moves: an append that would pass
 * max fails with -E2BIG and leaves data, len and the NUL terminator exactly as they were. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/hash.h"
#include "core/limits.h"

#define BUF_MIN_ALLOC 64

static size_t buf_max(const struct buf *b)
{
        return b->max ? b->max : BUF_DEFAULT_MAX;
}

/* Makes room for extra more bytes plus the NUL. */
int buf_reserve(struct buf *b, size_t extra)
{
        size_t need, nalloc;
        char *p;

        if (extra > buf_max(b) || b->len > buf_max(b) - extra)
                return -E2BIG;
        need = b->len + extra + 1;
        if (need <= b->alloc)
                return 0;
        nalloc = b->alloc ? b->alloc : BUF_MIN_ALLOC;
        while (nalloc < need)
                nalloc = nalloc > SIZE_MAX / 2 ? need : nalloc * 2;
        /* Never allocate much past the cap: +1 for the NUL. */
        if (nalloc > buf_max(b) + 1)
                nalloc = buf_max(b) + 1 > need ? buf_max(b) + 1 : need;
        p = realloc(b->data, nalloc);
        if (!p)
                return -ENOMEM;
        b->data = p;
        b->alloc = nalloc;
        return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
        int r = buf_reserve(b, n);

        if (r < 0)
                return r;
        if (n > 0)
                memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
}

int buf_putc(struct buf *b, char c)
{
        return buf_append(b, &c, 1);
}

int buf_puts(struct buf *b, const char *s)
{
        return buf_append(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
        va_list ap;
        char small[256];
        int n, r;

        va_start(ap, fmt);
        n = vsnprintf(small, sizeof(small), fmt, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;
        if ((size_t)n < sizeof(small))
                return buf_append(b, small, (size_t)n);
        /* Long output: format straight into the buffer after reserving room. */
        r = buf_reserve(b, (size_t)n);
        if (r < 0)
                return r;
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        b->len += (size_t)n;
        return 0;
}

int buf_put_hex(struct buf *b, const void *p, size_t n)
{
        int r;

        if (n > SIZE_MAX / 2)
                return -E2BIG;
        r = buf_reserve(b, 2 * n);
        if (r < 0)
                return r;
        hash_hex(p, n, b->data + b->len);
        b->len += 2 * n;
        return 0;
}

void buf_reset(struct buf *b)
{
        b->len = 0;
        if (b->data)
                b->data[0] = '\0';
}

void buf_free(struct buf *b)
{
        size_t max = b->max;

        free(b->data);
        *b = (struct buf)BUF_INIT;
        b->max = max;
}

char *buf_steal(struct buf *b, size_t *ret_len)
{
        char *p;

        /* An empty buffer owns no memory yet: give the caller an allocated "" anyway. */
        if (!b->data && buf_reserve(b, 0) < 0)
                return NULL;
        b->data[b->len] = '\0';
        p = b->data;
        if (ret_len)
                *ret_len = b->len;
        b->data = NULL;
        b->len = 0;
        b->alloc = 0;
        return p;
}
