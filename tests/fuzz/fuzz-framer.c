/* TCP framing target (ingest/syslog-frame.c, RFC 6587). Properties:
 *   - the messages delivered do not depend on how the stream is split into reads (whole,
 *     byte by byte, random splits) nor on the callback pausing the framer (feed_some with a
 *     callback that takes a message but says "queue full" at random, the caller re-feeding
 *     the bytes not used, as ingest/syslog-net.c does);
 *   - no message is longer than max; finish delivers or discards the same tail in all cases;
 *   - round trip: any list of messages, octet-counted and concatenated, comes back exactly
 *     (cut at max and flagged truncated when longer). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/buf.h"
#include "ingest/ingest.h"
#include "tests/fuzz/fuzz.h"

struct sink {
        struct buf out;   /* "LEN T|F bytes\n" per message */
        size_t max;
        uint64_t rng;     /* for pauses; 0 = never pause */
        size_t n;
};

static int sink_cb(void *ud, const char *msg, size_t len, bool truncated) {
        struct sink *s = ud;
        fuzz_check(len <= s->max, "message longer than max");
        fuzz_check(!truncated || len == s->max, "truncated message is not cut at max");
        buf_printf(&s->out, "%zu %c ", len, truncated ? 'T' : 'F');
        buf_append(&s->out, msg, len);
        buf_putc(&s->out, '\n');
        s->n++;
        /* "Queue full" (ingest keeps this message pending and stops reading): the framer
         * must stop right after it, and go on exactly from the bytes it did not use. */
        if (s->rng && fuzz_rand(&s->rng) % 4 == 0)
                return -EAGAIN;
        return 0;
}

/* Feeds data in pieces chosen by rng (split = 0: whole; 1: bytewise; else random), pausing
 * when pause is set. Returns the finish code. */
static int run(const uint8_t *data, size_t size, size_t max, int split, bool pause,
               uint64_t seed, struct sink *s) {
        struct syslog_framer *f;
        fuzz_check(syslog_framer_new(max, &f) == 0, "framer_new");
        *s = (struct sink){ .max = max, .rng = pause ? seed | 1 : 0 };
        uint64_t rng = seed;
        size_t off = 0;
        while (off < size) {
                size_t n = size - off;
                if (split == 1)
                        n = 1;
                else if (split == 2)
                        n = 1 + fuzz_rand(&rng) % n;
                size_t done = 0;
                while (done < n) {
                        size_t used = 0;
                        int r = syslog_framer_feed_some(f, (const char *)data + off + done,
                                                        n - done, sink_cb, s, &used);
                        fuzz_check(used <= n - done, "used beyond what was fed");
                        if (r < 0)
                                fuzz_check(r == -EAGAIN, "feed_some returns the cb's error");
                        else
                                fuzz_check(used == n - done, "feed_some used everything");
                        done += used;
                }
                off += n;
        }
        /* finish may deliver a last message: never pause there. */
        s->rng = 0;
        int fin = syslog_framer_finish(f, sink_cb, s);
        syslog_framer_free(f);
        return fin;
}

static void compare(const struct sink *a, const struct sink *b, const char *what) {
        fuzz_check(a->out.len == b->out.len &&
                   (a->out.len == 0 || memcmp(a->out.data, b->out.data, a->out.len) == 0),
                   what);
}

static void round_trip(const uint8_t *data, size_t size, size_t max, uint64_t seed) {
        /* The input cut into random non-empty messages, each octet-counted. */
        struct buf stream = { 0 }, want = { 0 };
        uint64_t rng = seed;
        size_t off = 0, n_msgs = 0;
        while (off < size) {
                size_t n = 1 + fuzz_rand(&rng) % (size - off);
                buf_printf(&stream, "%zu ", n);
                buf_append(&stream, data + off, n);
                size_t keep = n > max ? max : n;
                buf_printf(&want, "%zu %c ", keep, n > max ? 'T' : 'F');
                buf_append(&want, data + off, keep);
                buf_putc(&want, '\n');
                off += n;
                n_msgs++;
        }
        struct sink s;
        int fin = run((const uint8_t *)stream.data, stream.len, max, 2, false, seed, &s);
        fuzz_check(fin == 0, "a complete octet-counted stream leaves nothing behind");
        fuzz_check(s.n == n_msgs, "octet-counted round trip: message count");
        struct sink w = { .out = want };
        compare(&s, &w, "octet-counted round trip: messages");
        buf_free(&s.out);
        buf_free(&stream);
        buf_free(&want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint64_t seed = fuzz_seed_of(data, size);
        static const size_t maxes[] = { 16, 64 * 1024 };
        for (size_t m = 0; m < 2; m++) {
                struct sink whole, other;
                int fin = run(data, size, maxes[m], 0, false, seed, &whole);
                struct { int split; bool pause; } modes[] = { { 1, false }, { 2, false },
                                                              { 0, true }, { 2, true } };
                for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
                        int fin2 = run(data, size, maxes[m], modes[i].split, modes[i].pause,
                                       seed + i, &other);
                        fuzz_check(fin == fin2, "finish result depends on the split");
                        compare(&whole, &other, "messages depend on how the stream is split");
                        buf_free(&other.out);
                }
                buf_free(&whole.out);
                round_trip(data, size, maxes[m], seed);
        }
        return 0;
}
