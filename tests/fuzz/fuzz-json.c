/* JSON parser and RFC 8785 serialiser target (core/json.c, core/json-canon.c). Properties:
 *   - json_parse never crashes and either returns a tree or -EBADMSG with an offset within
 *     the input;
 *   - round trip: the canonical bytes of a parsed tree re-parse, and serialise to the same
 *     bytes (canonical form is a fixed point); a clone serialises to the same bytes too;
 *   - canonical bytes are valid UTF-8 without NUL, as every record and manifest must be;
 *   - for an object, json_canon_with_int (the writer's seq splice, issue 12) gives the bytes
 *     of json_obj_set_int + json_canon and the offset of the value, and changes nothing. */
#include <errno.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json *v = NULL;
        struct json_error err = { 0 };
        int r = json_parse((const char *)data, size, &v, &err);
        if (r < 0) {
                fuzz_check(r == -EBADMSG, "parse error is -EBADMSG");
                fuzz_check(v == NULL, "ret untouched on error");
                fuzz_check(err.offset <= size, "error offset within the input");
                fuzz_check(memchr(err.msg, 0, sizeof(err.msg)) != NULL && err.msg[0],
                           "error message set");
                return 0;
        }
        struct buf c1 = { 0 }, c2 = { 0 }, c3 = { 0 };
        fuzz_check(json_canon(v, &c1) == 0, "canon");
        fuzz_check(json_utf8_valid(c1.data ? c1.data : "", c1.len), "canonical bytes UTF-8");
        json *back = NULL;
        fuzz_check(json_parse(c1.data, c1.len, &back, &err) == 0, "canonical bytes re-parse");
        fuzz_check(json_canon(back, &c2) == 0, "canon of re-parsed");
        fuzz_check(c1.len == c2.len && memcmp(c1.data, c2.data, c1.len) == 0,
                   "canonical form is a fixed point");
        json *clone = json_clone(v);
        fuzz_check(clone != NULL, "clone");
        fuzz_check(json_canon(clone, &c3) == 0, "canon of clone");
        fuzz_check(c1.len == c3.len && memcmp(c1.data, c3.data, c1.len) == 0,
                   "clone serialises the same");
        if (json_type_of(v) == JSON_OBJ) {
                struct buf c4 = { 0 }, c5 = { 0 };
                size_t off = 0;
                int64_t seq = (int64_t)size * 7919 - 3;

                fuzz_check(json_canon_with_int(v, "seq", seq, &c4, &off) == 0, "canon with seq");
                fuzz_check(json_obj_set_int(clone, "seq", seq) == 0, "set seq on the clone");
                fuzz_check(json_canon(clone, &c5) == 0, "canon of clone with seq");
                fuzz_check(c4.len == c5.len && memcmp(c4.data, c5.data, c4.len) == 0,
                           "canon with seq = set seq + canon");
                fuzz_check(off >= 6 && off < c4.len && !memcmp(c4.data + off - 6, "\"seq\":", 6),
                           "seq offset");
                buf_free(&c4);
                fuzz_check(json_canon(v, &c4) == 0 && c4.len == c1.len &&
                                   memcmp(c4.data, c1.data, c1.len) == 0,
                           "canon with seq leaves the tree as it was");
                buf_free(&c4);
                buf_free(&c5);
        }
        json_free(clone);
        json_free(back);
        json_free(v);
        buf_free(&c1);
        buf_free(&c2);
        buf_free(&c3);
        return 0;
}
