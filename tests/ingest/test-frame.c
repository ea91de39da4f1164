/* RFC 6587 framing: a table of streams and the messages they must give, then a stream built
 * from a reference model fed whole, byte by byte, in random splits and with a consumer that
 * refuses messages at random (feed_some resumption): all must agree with the model. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ingest/ingest.h"

/* Messages rendered as "[msg]" or "[msg]!" (truncated), concatenated. */
struct out {
        char s[1 << 16];
        size_t len;
        int refuse_every;       /* >0: refuse one call in N (feed_some test) */
        unsigned calls;
        int refused_last;
};

static void out_add(struct out *o, const char *p, size_t n)
{
        assert_true(o->len + n < sizeof(o->s));
        memcpy(o->s + o->len, p, n);
        o->len += n;
}

static int out_cb(void *ud, const char *msg, size_t len, bool truncated)
{
        struct out *o = ud;

        o->calls++;
        if (o->refuse_every > 0 && !o->refused_last && rand() % o->refuse_every == 0) {
                /* Refused like a full queue: the caller keeps this message (the collector's
                 * pending event) and re-feeds the bytes after it, so it is recorded. */
                o->refused_last = 1;
                out_add(o, "[", 1);
                out_add(o, msg, len);
                out_add(o, truncated ? "]!" : "]", truncated ? 2 : 1);
                return -EAGAIN;
        }
        o->refused_last = 0;
        out_add(o, "[", 1);
        out_add(o, msg, len);
        out_add(o, truncated ? "]!" : "]", truncated ? 2 : 1);
        return 0;
}

#define S(x) x, sizeof(x) - 1

static const struct frame_case {
        const char *name;
        const char *in;
        size_t in_len;
        size_t max;
        const char *want;
        size_t want_len;
        int finish;             /* syslog_framer_finish's return */
} frame_cases[] = {
        { "octet counted", S("5 hello6 world!"), 16, S("[hello][world!]"), 0 },
        { "newline", S("hello\nworld\n"), 16, S("[hello][world]"), 0 },
        { "mixed per frame", S("5 hello<1>x\n3 abc"), 16, S("[hello][<1>x][abc]"), 0 },
        { "CRLF keeps CR", S("a\r\nb\r\n"), 16, S("[a\r][b\r]"), 0 },
        { "empty lines skipped", S("\n\n\r\nx\n\n"), 16, S("[x]"), 0 },
        { "octet frame may hold LF", S("5 a\nb\nc"), 16, S("[a\nb\nc]"), 0 },
        { "octet frame counts its LF", S("6 hello\n<2>y\n"), 16, S("[hello\n][<2>y]"), 0 },
        { "NUL inside a line", S("a\0b\n"), 16, S("[a\0b]"), 0 },
        { "line exactly max", S("abcdefghij\nz\n"), 10, S("[abcdefghij][z]"), 0 },
        { "line oversize cut, rest discarded", S("abcdefghijklmnop\nok\n"), 10,
          S("[abcdefghij]![ok]"), 0 },
        { "line oversize at end of stream", S("abcdefghijk"), 10, S("[abcdefghij]!"), 0 },
        { "octet exactly max", S("10 abcdefghij1 z"), 10, S("[abcdefghij][z]"), 0 },
        { "octet oversize cut, rest discarded", S("12 abcdefghijkl3 xyz"), 10,
          S("[abcdefghij]![xyz]"), 0 },
        { "octet oversize, stream ends in the tail", S("12 abcdefghijk"), 10,
          S("[abcdefghij]!"), 0 },
        { "ten digits fall back to newline", S("1234567890 x\nok\n"), 16,
          S("[1234567890 x][ok]"), 0 },
        { "nine digits are a count", S("123456789 abc"), 16, S(""), 1 },
        { "leading zero is newline framed", S("05 hello\n"), 16, S("[05 hello]"), 0 },
        { "zero count is newline framed", S("0 \n"), 16, S("[0 ]"), 0 },
        { "non-digit after digits", S("12abc\n3 xyz"), 16, S("[12abc][xyz]"), 0 },
        { "bad count keeps digits when cut", S("123x567890123456789\n"), 10,
          S("[123x567890]!"), 0 },
        { "unterminated line delivered at end", S("<13>abc"), 16, S("[<13>abc]"), 0 },
        { "partial octet frame discarded at end", S("10 abc"), 16, S(""), 1 },
        { "digits only at end", S("12"), 16, S(""), 1 },
        { "control byte start is newline framed", S("\x01hi\n"), 16, S("[\x01hi]"), 0 },
        { "nothing", S(""), 16, S(""), 0 },
};

static void run_case(const struct frame_case *c, size_t step)
{
        struct syslog_framer *f = NULL;
        struct out *o = calloc(1, sizeof(*o));
        int r;

        assert_non_null(o);
        if (syslog_framer_new(c->max, &f) < 0) {
                print_error("case '%s': framer_new failed\n", c->name);
                free(o);
                fail();
        }
        for (size_t i = 0; i < c->in_len; i += step) {
                size_t n = c->in_len - i < step ? c->in_len - i : step;

                assert_int_equal(syslog_framer_feed(f, c->in + i, n, out_cb, o), 0);
        }
        r = syslog_framer_finish(f, out_cb, o);
        if (r != c->finish || o->len != c->want_len || memcmp(o->s, c->want, o->len) != 0) {
                print_error("case '%s' (step %zu): got %d '%.*s', want %d '%.*s'\n", c->name,
                            step, r, (int)o->len, o->s, c->finish, (int)c->want_len, c->want);
                fail();
        }
        syslog_framer_free(f);
        free(o);
}

static void test_table(void **state)
{
        for (size_t i = 0; i < sizeof(frame_cases) / sizeof(frame_cases[0]); i++) {
                run_case(&frame_cases[i], frame_cases[i].in_len ? frame_cases[i].in_len : 1);
                run_case(&frame_cases[i], 1);
                run_case(&frame_cases[i], 3);
        }
}

static void test_new_rejects_tiny_max(void **state)
{
        struct syslog_framer *f = NULL;

        assert_int_equal(syslog_framer_new(9, &f), -EINVAL);
        assert_null(f);
        syslog_framer_free(NULL);
}

/* The reference model: builds a stream of frames and the exact output they must give. */
#define MODEL_MAX 64

static void model_build(unsigned seed, char *stream, size_t *ret_len, struct out *want)
{
        size_t len = 0;

        srand(seed);
        want->len = 0;
        for (int i = 0; i < 400; i++) {
                char msg[200];
                size_t n = (size_t)(rand() % 120) + 2;
                bool trunc = n > MODEL_MAX, octet = rand() % 2;

                msg[0] = '<';
                for (size_t k = 1; k < n; k++)
                        msg[k] = (char)(' ' + rand() % 90);
                if (octet) {
                        len += (size_t)sprintf(stream + len, "%zu ", n);
                        if (rand() % 4 == 0)
                                msg[n / 2] = '\n';  /* octet counting carries LF */
                } else {
                        if (rand() % 5 == 0)
                                stream[len++] = '\n';  /* an empty line, skipped */
                        msg[n - 1] = rand() % 3 ? 'x' : '\r';
                }
                memcpy(stream + len, msg, n);
                len += n;
                if (!octet)
                        stream[len++] = '\n';
                out_add(want, "[", 1);
                out_add(want, msg, trunc ? MODEL_MAX : n);
                out_add(want, trunc ? "]!" : "]", trunc ? 2 : 1);
        }
        *ret_len = len;
}

static void feed_splits(const char *p, size_t n, struct out *o, int mode)
{
        struct syslog_framer *f = NULL;
        size_t i = 0;

        assert_int_equal(syslog_framer_new(MODEL_MAX, &f), 0);
        srand(12345);
        while (i < n) {
                size_t k = mode == 0 ? n - i : mode == 1 ? 1 : (size_t)(rand() % 300) + 1;
                size_t used = 0;
                int r;

                if (k > n - i)
                        k = n - i;
                r = syslog_framer_feed_some(f, p + i, k, out_cb, o, &used);
                assert_true(r == 0 || r == -EAGAIN);
                assert_true(r == -EAGAIN || used == k);
                i += used;
        }
        assert_int_equal(syslog_framer_finish(f, out_cb, o), 0);
        syslog_framer_free(f);
}

static void test_metamorphic(void **state)
{
        static char stream[400 * 140];
        struct out *want = calloc(1, sizeof(*want));
        size_t len;

        assert_non_null(want);
        model_build(7, stream, &len, want);
        for (int mode = 0; mode < 3; mode++) {
                for (int refuse = 0; refuse <= 3; refuse += 3) {
                        struct out *o = calloc(1, sizeof(*o));

                        assert_non_null(o);
                        o->refuse_every = refuse;
                        feed_splits(stream, len, o, mode);
                        if (o->len != want->len || memcmp(o->s, want->s, o->len) != 0) {
                                print_error("split mode %d refuse %d differs from the model\n",
                                            mode, refuse);
                                fail();
                        }
                        free(o);
                }
        }
        free(want);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_new_rejects_tiny_max),
                cmocka_unit_test(test_metamorphic),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
