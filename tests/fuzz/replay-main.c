/* Replays fuzz inputs without libFuzzer: every file named on the command line, and every
 * regular file inside each folder named, is passed once to LLVMFuzzerTestOneInput. This is
 * how `meson test --suite fuzz` runs each target over its seed corpus (tests/fuzz/corpus/
 * NAME/, crash regressions included) in the gcc and sanitizer builds. Exit 0 when every input
 * ran (a property violation aborts); 1 when nothing was found to run or a path is unreadable. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"

static int run_file(const char *path) {
        FILE *f = fopen(path, "rb");
        if (!f) {
                fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
                return -1;
        }
        size_t cap = 4096, len = 0;
        uint8_t *data = malloc(cap);
        size_t n;
        while (data && (n = fread(data + len, 1, cap - len, f)) > 0) {
                len += n;
                if (len == cap) {
                        uint8_t *p = realloc(data, cap * 2);
                        if (!p) {
                                free(data);
                                data = NULL;
                                break;
                        }
                        data = p;
                        cap *= 2;
                }
        }
        fclose(f);
        if (!data) {
                fprintf(stderr, "replay: %s: out of memory\n", path);
                return -1;
        }
        /* An exact-size copy, so that ASan catches a read one past the input. */
        uint8_t *exact = malloc(len ? len : 1);
        if (!exact) {
                free(data);
                return -1;
        }
        memcpy(exact, data, len);
        free(data);
        LLVMFuzzerTestOneInput(exact, len);
        free(exact);
        return 0;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
        size_t ran = 0;
        int bad = 0;
        for (int i = 1; i < argc; i++) {
                struct stat st;
                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
                        bad = 1;
                        continue;
                }
                if (!S_ISDIR(st.st_mode)) {
                        bad |= run_file(argv[i]) < 0;
                        ran++;
                        continue;
                }
                DIR *d = opendir(argv[i]);
                if (!d) {
                        bad = 1;
                        continue;
                }
                char **names = NULL;
                size_t n = 0;
                struct dirent *de;
                while ((de = readdir(d))) {
                        if (de->d_name[0] == '.')
                                continue;
                        char **p = realloc(names, (n + 1) * sizeof(*names));
                        if (!p)
                                break;
                        names = p;
                        size_t l = strlen(argv[i]) + strlen(de->d_name) + 2;
                        names[n] = malloc(l);
                        if (!names[n])
                                break;
                        snprintf(names[n], l, "%s/%s", argv[i], de->d_name);
                        n++;
                }
                closedir(d);
                qsort(names, n, sizeof(*names), cmp_str);
                for (size_t k = 0; k < n; k++) {
                        if (stat(names[k], &st) == 0 && S_ISREG(st.st_mode)) {
                                bad |= run_file(names[k]) < 0;
                                ran++;
                        }
                        free(names[k]);
                }
                free(names);
        }
        printf("replay: %zu inputs ran\n", ran);
        return bad || ran == 0 ? 1 : 0;
}
