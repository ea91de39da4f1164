/* Growable byte buffer with a hard cap.
 *
 * Every buffer that grows with input has a cap (see core/limits.h): appending past it fails
 * with -E2BIG and leaves the buffer as it was. The data is always NUL-terminated (the NUL is
 * not counted in len), so a buffer holding text can be passed to C string functions. */
#pragma once
#include <stdarg.h>
#include <stddef.h>

struct buf {
        char *data;     /* owned; NULL until the first append */
        size_t len;     /* bytes used, excluding the trailing NUL */
        size_t alloc;   /* bytes allocated */
        size_t max;     /* hard cap on len; 0 means BUF_DEFAULT_MAX */
};

#define BUF_INIT { NULL, 0, 0, 0 }

/* Returns 0, -ENOMEM, or -E2BIG when len would pass max. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_putc(struct buf *b, char c);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends the lowercase hex of n bytes. */
int buf_put_hex(struct buf *b, const void *p, size_t n);
/* Makes room for extra more bytes (and the NUL) without changing len, so that a writer may
 * fill data[len..len+extra) itself. Returns 0, -ENOMEM, or -E2BIG when len would pass max. */
int buf_reserve(struct buf *b, size_t extra);
/* Empties the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* Frees the memory; the buffer is BUF_INIT afterwards (max kept). */
void buf_free(struct buf *b);
/* Hands the data to the caller (who frees it); the buffer is empty afterwards. Never NULL
 * unless out of memory. */
char *buf_steal(struct buf *b, size_t *ret_len);
