/* Syslog over TCP framing (RFC 6587): splits a byte stream into messages.
 *
 * Two framings exist in the wild. Octet counting (RFC 6587 section 3.4.1, also RFC 5425
 * section 4.3): "MSG-LEN SP SYSLOG-MSG" with MSG-LEN a decimal without leading zero. Non-
 * transparent framing (section 3.4.2): the message ends at a trailer, LF here. Like rsyslog's
 * imtcp, the choice is made at the start of every frame, not once per connection: a frame
 * that starts with a digit 1-9 is octet-counted, anything else is newline-framed. This is
 * strictly more tolerant than deciding once (a relay that switches framing still works) and
 * gives the same result on every well-behaved stream.
 *
 * Deviations accepted, and what happens to bad frames (OpenBSD syslogd and rsyslog both fall
 * back to newline framing when the count is not "digits SP"; we do the same and lose nothing):
 *  - more than SYSLOG_FRAME_MAX_DIGITS digits, or a byte other than a digit or SP after the
 *    digits: the frame is newline-framed from its first byte (the digits are the start of the
 *    message text);
 *  - a leading zero ("05 abc") is not a valid MSG-LEN, so the frame is newline-framed;
 *  - an empty newline frame ("\n" or "\r\n", keep-alives of some senders) carries nothing and
 *    is skipped without a callback;
 *  - CR before LF stays in the message: normalize strips trailing CR/LF/NUL. A message of
 *    exactly max bytes plus CR is therefore reported truncated (the CR is what was cut).
 *
 * Memory is bounded by max: a message longer than max is delivered cut at max with
 * truncated=true the moment the (max+1)th byte arrives, and the rest of its frame (the
 * remaining octets, or everything up to the next LF) is discarded as it streams in.
 * The framer's state depends only on the bytes, never on how they were split. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "ingest/ingest.h"

enum frame_state {
        FS_START,       /* at a frame boundary */
        FS_DIGITS,      /* reading MSG-LEN */
        FS_OCTETS,      /* reading an octet-counted message */
        FS_OCTETS_SKIP, /* discarding the rest of an oversize octet-counted frame */
        FS_LINE,        /* reading a newline-framed message */
        FS_LINE_SKIP,   /* discarding up to LF after an oversize line */
};

struct syslog_framer {
        enum frame_state state;
        size_t max;
        char *msg;              /* max bytes */
        size_t len;             /* bytes in msg */
        size_t remain;          /* octets still due in FS_OCTETS / FS_OCTETS_SKIP */
};

int syslog_framer_new(size_t max, struct syslog_framer **ret)
{
        struct syslog_framer *f;

        /* The digits of a bad count must fit the message buffer when it falls back. */
        if (max < SYSLOG_FRAME_MAX_DIGITS + 1)
                return -EINVAL;
        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->msg = malloc(max);
        if (!f->msg) {
                free(f);
                return -ENOMEM;
        }
        f->max = max;
        *ret = f;
        return 0;
}

void syslog_framer_free(struct syslog_framer *f)
{
        if (!f)
                return;
        free(f->msg);
        free(f);
}

bool syslog_framer_pending(const struct syslog_framer *f)
{
        return f->state == FS_DIGITS || f->state == FS_OCTETS ||
               (f->state == FS_LINE && f->len > 0);
}

/* Delivers msg[0..len) and returns to FS_START (or to skip when truncated). */
static int frame_emit_line(struct syslog_framer *f, syslog_frame_cb cb, void *ud)
{
        size_t len = f->len;

        f->state = FS_START;
        f->len = 0;
        if (len == 0 || (len == 1 && f->msg[0] == '\r'))
                return 0;
        return cb(ud, f->msg, len, false);
}

/* Consumes bytes of a newline-framed message; returns bytes used, sets *r from cb. */
static size_t frame_line(struct syslog_framer *f, const char *p, size_t n,
                         syslog_frame_cb cb, void *ud, int *r)
{
        const char *lf = memchr(p, '\n', n);
        size_t take = lf ? (size_t)(lf - p) : n;
        size_t room = f->max - f->len;

        if (lf && f->len == 0 && take <= f->max) {
                /* The whole line lies in the read buffer: delivered from there, not copied
                 * (issue 12; cb gets the same bytes, valid only during the call as ever). */
                f->state = FS_START;
                if (take > 0 && !(take == 1 && p[0] == '\r'))
                        *r = cb(ud, p, take, false);
                return take + 1;
        }
        if (take > room) {
                /* The (max+1)th byte is here: cut now, skip the rest of the line. */
                memcpy(f->msg + f->len, p, room);
                f->len = 0;
                f->state = FS_LINE_SKIP;
                *r = cb(ud, f->msg, f->max, true);
                return room;
        }
        memcpy(f->msg + f->len, p, take);
        f->len += take;
        if (!lf)
                return n;
        *r = frame_emit_line(f, cb, ud);
        return take + 1;
}

static size_t frame_octets(struct syslog_framer *f, const char *p, size_t n,
                           syslog_frame_cb cb, void *ud, int *r)
{
        size_t due = f->len + f->remain;        /* the frame's MSG-LEN */
        size_t want = due < f->max ? due : f->max;
        size_t take = want - f->len;

        if (f->len == 0 && n >= want) {
                /* The frame (or its first max bytes) lies in the read buffer: in place. */
                f->remain -= want;
                f->state = f->remain == 0 ? FS_START : FS_OCTETS_SKIP;
                *r = cb(ud, p, want, f->remain != 0);
                return want;
        }
        if (take > n)
                take = n;
        memcpy(f->msg + f->len, p, take);
        f->len += take;
        f->remain -= take;
        if (f->len < want)
                return take;
        if (f->remain == 0) {
                f->state = FS_START;
                f->len = 0;
                *r = cb(ud, f->msg, want, false);
        } else {
                /* Cut at max as soon as max bytes are in; the rest streams to nowhere. */
                f->state = FS_OCTETS_SKIP;
                f->len = 0;
                *r = cb(ud, f->msg, want, true);
        }
        return take;
}

/* MSG-LEN digits are collected in msg so that a bad count falls back losslessly. */
static size_t frame_digits(struct syslog_framer *f, const char *p, size_t n)
{
        size_t i = 0;

        for (; i < n; i++) {
                char c = p[i];

                if (c >= '0' && c <= '9' && f->len < SYSLOG_FRAME_MAX_DIGITS) {
                        f->msg[f->len++] = c;
                        f->remain = f->remain * 10 + (size_t)(c - '0');
                        continue;
                }
                if (c == ' ') {
                        f->state = FS_OCTETS;
                        f->len = 0;
                        return i + 1;
                }
                /* Not "digits SP": newline framing from the frame's first byte. */
                f->state = FS_LINE;
                f->remain = 0;
                return i;
        }
        return n;
}

int syslog_framer_feed_some(struct syslog_framer *f, const char *p, size_t n,
                            syslog_frame_cb cb, void *ud, size_t *ret_used)
{
        size_t used = 0;
        int r = 0;

        while (used < n && r >= 0) {
                const char *q = p + used;
                size_t k = n - used;

                switch (f->state) {
                case FS_START:
                        f->len = 0;
                        f->remain = 0;
                        f->state = (*q >= '1' && *q <= '9') ? FS_DIGITS : FS_LINE;
                        break;
                case FS_DIGITS:
                        used += frame_digits(f, q, k);
                        break;
                case FS_OCTETS:
                        used += frame_octets(f, q, k, cb, ud, &r);
                        break;
                case FS_OCTETS_SKIP:
                        k = k < f->remain ? k : f->remain;
                        f->remain -= k;
                        used += k;
                        if (f->remain == 0)
                                f->state = FS_START;
                        break;
                case FS_LINE:
                        used += frame_line(f, q, k, cb, ud, &r);
                        break;
                case FS_LINE_SKIP: {
                        const char *lf = memchr(q, '\n', k);

                        used += lf ? (size_t)(lf - q) + 1 : k;
                        if (lf)
                                f->state = FS_START;
                        break;
                }
                }
        }
        if (ret_used)
                *ret_used = used;
        return r < 0 ? r : 0;
}

int syslog_framer_feed(struct syslog_framer *f, const char *p, size_t n, syslog_frame_cb cb,
                       void *ud)
{
        return syslog_framer_feed_some(f, p, n, cb, ud, NULL);
}

int syslog_framer_finish(struct syslog_framer *f, syslog_frame_cb cb, void *ud)
{
        enum frame_state st = f->state;
        int r;

        f->state = FS_START;
        switch (st) {
        case FS_LINE:
                /* logger and friends close the connection after the last line's bytes. */
                f->state = FS_LINE;
                r = frame_emit_line(f, cb, ud);
                return r < 0 ? r : 0;
        case FS_DIGITS:
        case FS_OCTETS:
                f->len = 0;
                f->remain = 0;
                return 1;
        default:
                /* An oversize frame was already delivered truncated; its tail is moot. */
                f->len = 0;
                f->remain = 0;
                return 0;
        }
}
