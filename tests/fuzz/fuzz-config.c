/* Configuration loader target (cli/config.c, libyaml). Properties: any bytes either load
 * (and free cleanly) or are refused with -EINVAL and an error that names the file and says
 * what was wrong; never a crash, a leak, or another error code (-ENOMEM aside). */
#include <errno.h>
#include <string.h>

#include "cli/config.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct config c;
        struct config_error err;
        memset(&c, 0, sizeof(c));
        memset(&err, 0, sizeof(err));
        int r = config_load_text("fuzz.yaml", (const char *)data, size, &c, &err);
        if (r == 0) {
                config_free(&c);
                return 0;
        }
        fuzz_check(r == -EINVAL, "config error is -EINVAL");
        fuzz_check(err.msg[0] != 0 && memchr(err.msg, 0, sizeof(err.msg)), "error says what");
        fuzz_check(strcmp(err.file, "fuzz.yaml") == 0, "error names the file");
        char text[600];
        config_error_format(&err, text, sizeof(text));
        fuzz_check(strncmp(text, "fuzz.yaml:", 10) == 0, "formatted error starts with file:");
        return 0;
}
