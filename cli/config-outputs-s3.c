/* The `s3:` block of an S3 output:
 *
 *   outputs:
 *     - name: archive
 *       type: s3
 *       s3:
 *         bucket: evidence                 # required
 *         endpoint: http://127.0.0.1:7480  # default: AWS in the region
 *         region: eu-west-1                # default us-east-1
 *         prefix: soc2/gatelog             # default: the bucket's root
 *         addressing: path                 # path | virtual (default: path with an endpoint)
 *         access_key: AKIA...              # default: AWS_ACCESS_KEY_ID (and the secret,
 *         secret_key: ...                  #   AWS_SECRET_ACCESS_KEY; AWS_SESSION_TOKEN)
 *         tls_verify: true                 # default true
 *         object_lock: {mode: compliance, retain: 400d}
 *         compression: zstd                # none | zstd (default none)
 *         compression_level: 3             # 1-19
 *
 * Unknown and duplicate keys are errors naming file:line:column. The walk has a fixed depth
 * (mapping, one nested mapping), so YAML aliases cannot make it loop. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/config-yaml.h"
#include "cli/config-outputs-s3.h"
#include "cli/writer.h"
#include "outputs/s3.h"

static int sbool(struct cfg_ctx *x, yaml_node_t *n, bool *dst)
{
        const char *s;
        int r = cfg_text(x, n, &s);

        if (r < 0)
                return r;
        if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))
                *dst = true;
        else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))
                *dst = false;
        else
                return cfg_fail(x, n, "'%s' is not true or false", s);
        return 0;
}

/* One of words (case-insensitive): its index into *ret. */
static int sword(struct cfg_ctx *x, yaml_node_t *n, const char *const *words, const char *list,
                 int *ret)
{
        const char *s;
        int r = cfg_text(x, n, &s);

        if (r < 0)
                return r;
        for (int i = 0; words[i]; i++)
                if (!strcasecmp(s, words[i])) {
                        *ret = i;
                        return 0;
                }
        /* -EINVAL spelled out: the compiler cannot see that cfg_fail's value is negative, and
         * callers read *ret whenever the result is not negative. */
        cfg_fail(x, n, "'%s' is not one of %s", s, list);
        return -EINVAL;
}

static int lock_key(struct cfg_ctx *x, const char *key, yaml_node_t *v, void *obj)
{
        static const char *const modes[] = { "governance", "compliance", NULL };
        struct config_s3 *s = obj;
        const char *text;
        int r, m;

        if (!strcmp(key, "mode")) {
                r = sword(x, v, modes, "governance, compliance", &m);
                if (r >= 0) {
                        free(s->lock_mode);
                        s->lock_mode = strdup(m ? "COMPLIANCE" : "GOVERNANCE");
                        r = s->lock_mode ? 0 : -ENOMEM;
                }
        } else if (!strcmp(key, "retain")) {
                r = cfg_text(x, v, &text);
                if (r >= 0 && (config_parse_duration(text, &s->lock_retain_us) < 0 ||
                               s->lock_retain_us <= 0))
                        r = cfg_fail(x, v, "bad duration '%s' (e.g. 400d, 12h)", text);
        } else {
                r = 1;
        }
        return r;
}

static int s3_key(struct cfg_ctx *x, const char *key, yaml_node_t *v, void *obj)
{
        static const char *const addressing[] = { "path", "virtual", NULL };
        static const char *const compression[] = { "none", "zstd", NULL };
        struct config_s3 *s = obj;
        const char *text;
        int r = 0, w;

        if (!strcmp(key, "endpoint")) {
                r = cfg_string(x, v, &s->endpoint);
                if (r >= 0 && strncmp(s->endpoint, "http://", 7) &&
                    strncmp(s->endpoint, "https://", 8))
                        r = cfg_fail(x, v, "'%s' is not an http:// or https:// URL", s->endpoint);
        } else if (!strcmp(key, "region")) {
                r = cfg_string(x, v, &s->region);
        } else if (!strcmp(key, "bucket")) {
                r = cfg_string(x, v, &s->bucket);
                size_t n = r >= 0 ? strlen(s->bucket) : 0;
                if (r >= 0 && (n < 3 || n > 63 ||
                               strspn(s->bucket, "abcdefghijklmnopqrstuvwxyz0123456789.-") != n))
                        r = cfg_fail(x, v, "'%s' is not a bucket name (3-63 of a-z 0-9 . -)",
                                  s->bucket);
        } else if (!strcmp(key, "prefix")) {
                r = cfg_string(x, v, &s->prefix);
        } else if (!strcmp(key, "addressing")) {
                r = sword(x, v, addressing, "path, virtual", &w);
                if (r >= 0)
                        s->virtual_host = w == 1;
                s->addressing_given = r >= 0;
        } else if (!strcmp(key, "access_key")) {
                r = cfg_string(x, v, &s->access_key);
        } else if (!strcmp(key, "secret_key")) {
                r = cfg_string(x, v, &s->secret_key);
        } else if (!strcmp(key, "session_token")) {
                r = cfg_string(x, v, &s->session_token);
        } else if (!strcmp(key, "tls_verify")) {
                r = sbool(x, v, &s->tls_verify);
        } else if (!strcmp(key, "object_lock")) {
                r = cfg_map_each(x, v, lock_key, s);
                if (r >= 0 && (!s->lock_mode || !s->lock_retain_us))
                        r = cfg_fail(x, v, "needs both mode and retain");
        } else if (!strcmp(key, "compression")) {
                r = sword(x, v, compression, "none, zstd", &w);
                if (r >= 0)
                        s->zstd = w == 1;
        } else if (!strcmp(key, "compression_level")) {
                r = cfg_text(x, v, &text);
                char *end;
                long lv = r >= 0 ? strtol(text, &end, 10) : 0;
                if (r >= 0 && (*end || lv < 1 || lv > 19))
                        r = cfg_fail(x, v, "'%s' is not a level 1..19", text);
                if (r >= 0)
                        s->zstd_level = (int)lv;
        } else {
                r = 1;
        }
        return r;
}

void config_s3_free(struct config_s3 *s)
{
        if (!s)
                return;
        free(s->endpoint);
        free(s->region);
        free(s->bucket);
        free(s->prefix);
        free(s->access_key);
        if (s->secret_key)
                explicit_bzero(s->secret_key, strlen(s->secret_key));
        free(s->secret_key);
        free(s->session_token);
        free(s->lock_mode);
        free(s);
}

int config_s3_parse(yaml_document_t *doc, yaml_node_t *n, const char *path,
                    struct config_s3 **ret, struct config_error *err)
{
        struct cfg_ctx x = { .doc = doc, .err = err };
        struct config_s3 *s = calloc(1, sizeof(*s));
        int r;

        if (!s)
                return -ENOMEM;
        s->tls_verify = true;
        snprintf(x.path, sizeof(x.path), "%s", path);
        r = cfg_map_each(&x, n, s3_key, s);
        if (r >= 0 && !s->bucket)
                r = cfg_fail(&x, n, "missing key 'bucket'");
        if (r >= 0 && !s->addressing_given)
                s->virtual_host = !s->endpoint;
        if (r < 0) {
                config_s3_free(s);
                return r;
        }
        config_s3_free(*ret);
        *ret = s;
        return 0;
}

int config_s3_output(const struct config_s3 *s, struct writer_output *out, char *err,
                     size_t err_len)
{
        struct s3_config c = {
                .endpoint = s->endpoint, .region = s->region, .bucket = s->bucket,
                .prefix = s->prefix, .virtual_host = s->virtual_host,
                .access_key = s->access_key, .secret_key = s->secret_key,
                .session_token = s->session_token, .tls_verify = s->tls_verify,
                .lock_mode = s->lock_mode, .lock_retain_us = s->lock_retain_us,
                .zstd = s->zstd, .zstd_level = s->zstd_level,
        };
        struct store_error se = { { 0 } };
        struct s3_output *o = NULL;
        int r = s3_output_new(&c, &o, &se);

        if (r < 0) {
                snprintf(err, err_len, "output %s: %s", out->name,
                         se.msg[0] ? se.msg : strerror(-r));
                return r;
        }
        out->write_epoch = s3_output_write;
        out->impl = o;
        return 0;
}
