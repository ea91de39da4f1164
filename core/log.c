/* The daemon's own log lines, to stderr.
 *
 * One line per call, built in memory and written with a single write(2) so that lines from
 * several threads never interleave. Text from the caller is escaped so that it can never
 * start a new line: a hostile byte in a logged value cannot forge a log entry. Load is a few
 * lines per state change; nothing here is on the per-event path. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/tm.h"

enum log_level log_max_level = LOG_LVL_INFO;
int log_json = 0;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

/* Appends s as the inside of a double-quoted string: '"' and '\\' escaped, controls as
 * \n \r \t or \u00xx (valid in both logfmt readers and JSON). */
static void put_escaped(struct buf *b, const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];

                if (c == '"' || c == '\\') {
                        buf_putc(b, '\\');
                        buf_putc(b, (char)c);
                } else if (c == '\n') {
                        buf_puts(b, "\\n");
                } else if (c == '\r') {
                        buf_puts(b, "\\r");
                } else if (c == '\t') {
                        buf_puts(b, "\\t");
                } else if (c < 0x20 || c == 0x7f) {
                        buf_printf(b, "\\u%04x", c);
                } else {
                        buf_putc(b, (char)c);
                }
        }
}

/* Logfmt: the caller's key=value text is kept, only control bytes are escaped. */
static void put_kv_logfmt(struct buf *b, const char *kv, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)kv[i];

                if (c < 0x20 || c == 0x7f)
                        buf_printf(b, "\\x%02x", c);
                else
                        buf_putc(b, (char)c);
        }
}

/* Reads one logfmt token (bare, or "quoted" with backslash escapes) starting at kv[*i];
 * appends its JSON-escaped text to b. */
static void put_token_json(struct buf *b, const char *kv, size_t n, size_t *i, bool key)
{
        size_t s = *i;

        if (!key && s < n && kv[s] == '"') {
                /* Quoted: copy through to the closing quote, keeping the escapes as they are
                 * unless they would be invalid JSON. */
                size_t j = s + 1;

                while (j < n && kv[j] != '"') {
                        if (kv[j] == '\\' && j + 1 < n && strchr("\"\\/nrt", kv[j + 1])) {
                                buf_append(b, kv + j, 2);
                                j += 2;
                                continue;
                        }
                        put_escaped(b, kv + j, 1);
                        j++;
                }
                *i = j < n ? j + 1 : j;
                return;
        }
        while (*i < n && kv[*i] != ' ' && !(key && kv[*i] == '='))
                (*i)++;
        put_escaped(b, kv + s, *i - s);
}

/* JSON: every key=value pair becomes a string member, in the order given. A bare word
 * without '=' becomes a member with the value "". */
static void put_kv_json(struct buf *b, const char *kv, size_t n)
{
        size_t i = 0;

        while (i < n) {
                while (i < n && kv[i] == ' ')
                        i++;
                if (i >= n)
                        break;
                buf_puts(b, ",\"");
                put_token_json(b, kv, n, &i, true);
                buf_puts(b, "\":\"");
                if (i < n && kv[i] == '=') {
                        i++;
                        put_token_json(b, kv, n, &i, false);
                }
                buf_putc(b, '"');
                /* Skip any junk glued to a quoted value up to the next space. */
                while (i < n && kv[i] != ' ')
                        i++;
        }
}

void log_write(enum log_level lvl, const char *msg, const char *kv_fmt, ...)
{
        char kv[LOG_LINE_MAX], ts[TM_RFC3339_LEN];
        struct buf b = BUF_INIT;
        va_list ap;
        size_t kv_len = 0;
        bool truncated = false;
        int n;

        if ((unsigned)lvl > (unsigned)log_max_level || (unsigned)lvl > LOG_LVL_DEBUG)
                return;
        if (kv_fmt && kv_fmt[0]) {
                va_start(ap, kv_fmt);
                n = vsnprintf(kv, sizeof(kv), kv_fmt, ap);
                va_end(ap);
                if (n > 0) {
                        kv_len = (size_t)n < sizeof(kv) ? (size_t)n : sizeof(kv) - 1;
                        truncated = (size_t)n >= sizeof(kv);
                }
        }
        if (!msg)
                msg = "";
        b.max = 6 * LOG_LINE_MAX + 1024; /* \u00xx escapes widen a byte sixfold */
        tm_format_rfc3339(tm_now_us(), ts);
        if (log_json) {
                buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts, level_names[lvl]);
                put_escaped(&b, msg, strlen(msg));
                buf_putc(&b, '"');
                put_kv_json(&b, kv, kv_len);
                if (truncated)
                        buf_puts(&b, ",\"truncated\":\"1\"");
                buf_puts(&b, "}\n");
        } else {
                buf_printf(&b, "ts=%s level=%s msg=\"", ts, level_names[lvl]);
                put_escaped(&b, msg, strlen(msg));
                buf_putc(&b, '"');
                if (kv_len) {
                        buf_putc(&b, ' ');
                        put_kv_logfmt(&b, kv, kv_len);
                }
                if (truncated)
                        buf_puts(&b, " truncated=1");
                buf_putc(&b, '\n');
        }
        if (b.data) {
                const char *p = b.data;
                size_t left = b.len;

                while (left > 0) {
                        ssize_t w = write(STDERR_FILENO, p, left);

                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w <= 0)
                                break;
                        p += w;
                        left -= (size_t)w;
                }
        }
        buf_free(&b);
}
