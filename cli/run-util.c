/* Helpers shared by the commands: folder creation and configuration loading with errors
 * printed the one way users see them (FILE:LINE:COLUMN: message). */
#include "cli/run-util.h"

#include "cli/exporter.h"
#include "rules/rules.h"
#include "cli/config-outputs-s3.h"  /* S3 exports (issue 7) */
#include "outputs/s3.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int mkdir_parents(const char *path, mode_t mode) {
        char *p = strdup(path);
        if (!p)
                return -1;
        char *slash = strrchr(p, '/');
        if (!slash) {
                free(p);
                return 0;
        }
        *slash = '\0';
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(p, mode) < 0 && errno != EEXIST) {
                        free(p);
                        return -1;
                }
                *s = '/';
        }
        int r = (p[0] && mkdir(p, mode) < 0 && errno != EEXIST) ? -1 : 0;
        free(p);
        return r;
}

int config_load_any(const char *path, struct config *ret) {
        struct config_error err;
        memset(&err, 0, sizeof(err));
        int r = path ? config_load_file(path, ret, &err)
                     : config_load_text("<embedded default>", config_default_yaml,
                                        strlen(config_default_yaml), ret, &err);
        /* ops (issue 9): GATELOG_... environment overrides win over the file. */
        if (r >= 0 && (r = config_apply_env(ret, &err)) < 0)
                config_free(ret);
        if (r < 0) {
                char msg[1024];
                config_error_format(&err, msg, sizeof(msg));
                fprintf(stderr, "gatelog: %s\n", msg);
        }
        return r;
}

int outputs_build(const struct config *cfg, struct writer_output **ret, char *err,
                  size_t err_len) {
        struct writer_output *outs = calloc(cfg->n_outputs + 1, sizeof(*outs));
        if (!outs)
                return -ENOMEM;
        for (size_t i = 0; i < cfg->n_outputs; i++) {
                const struct config_output *o = &cfg->outputs[i];
                outs[i].name = o->name;
                if (!strcmp(o->type, "folder")) {
                        outs[i].write_epoch = exporter_folder_write;
                        outs[i].impl = o->path;
                } else if (!strcmp(o->type, "s3")) {  /* S3 exports (issue 7) */
                        int r = config_s3_output(o->s3, &outs[i], err, err_len);
                        if (r < 0) {
                                outputs_free(outs, i);
                                return r;
                        }
                } else {
                        snprintf(err, err_len, "output %s: unknown type '%s'", o->name, o->type);
                        outputs_free(outs, i);
                        return -EINVAL;
                }
        }
        *ret = outs;
        return 0;
}

void outputs_free(struct writer_output *outs, size_t n) {
        /* Folder outputs borrow the configuration's path; other types own an impl. */
        for (size_t i = 0; outs && i < n; i++)
                if (outs[i].write_epoch == s3_output_write)  /* issue 7 */
                        s3_output_free(outs[i].impl);
        free(outs);
}

int rules_load_config(const struct config *cfg, struct rules_pack **ret, char *err,
                      size_t err_len) {
        *ret = NULL;
        if (cfg->n_rules_paths == 0)
                return 0;
        struct rules_options opt = { NULL, 0 };
        uint8_t *key = NULL;
        size_t key_len = 0;
        if (cfg->rules_hmac_key) {
                int r = rules_key_load(cfg->rules_hmac_key, &key, &key_len);
                if (r < 0) {
                        snprintf(err, err_len, "%s: cannot use as rules.hmac_key: %s",
                                 cfg->rules_hmac_key, strerror(-r));
                        return r;
                }
                opt.hmac_key = key;
                opt.hmac_key_len = key_len;
        }
        struct rules_error re;
        memset(&re, 0, sizeof(re));
        int r = rules_pack_load((const char *const *)cfg->rules_paths, cfg->n_rules_paths, &opt,
                                ret, &re);
        if (key) {
                explicit_bzero(key, key_len);
                free(key);
        }
        if (r < 0)
                rules_error_format(&re, err, err_len);
        return r;
}
