/* JSON parser and RFC 8785 serialiser target (core/json.c, core/json-canon.c). Properties:
 *   - json_parse never crashes and either returns a tree or -EBADMSG with an offset within
 *     the input;
 *   - round trip: the canonical bytes of a parsed tree re-parse, and serialise to the same
 *     bytes (canonical form is a fixed point); a clone serialises to the same bytes too;
 *   - canonical bytes are valid UTF-8 without NUL, as every record and manifest must be. */
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
        json_free(clone);
        json_free(back);
        json_free(v);
        buf_free(&c1);
        buf_free(&c2);
        buf_free(&c3);
        return 0;
}
