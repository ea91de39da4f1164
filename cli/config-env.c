/* The configuration's environment overrides (ops, issue 9): GATELOG_* variables become
 * one small YAML document laid over the loaded configuration by the same parser. Nothing
 * here logs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/config-int.h"
#include "core/buf.h"

/* ---- ops (issue 9): environment overrides ----
 * The usual sidecar knobs can be set from the environment (containers, systemd's
 * Environment=). They are turned into one small YAML document laid over the loaded
 * configuration by the same parser, so every value is checked exactly as in a file; an error
 * names the variable. GATELOG_ variables not in this table are left to their owners. */

static const struct env_knob {
        const char *var, *section, *key;
        enum { ENV_SCALAR, ENV_BOOL, ENV_LISTEN } kind;
} env_knobs[] = {
        { "GATELOG_CHAIN", NULL, "chain", ENV_SCALAR },
        { "GATELOG_SYSLOG_LISTEN", "syslog", "listen", ENV_LISTEN },
        { "GATELOG_QUEUE_MAX_EVENTS", "queue", "max_events", ENV_SCALAR },
        { "GATELOG_QUEUE_MAX_BYTES", "queue", "max_bytes", ENV_SCALAR },
        { "GATELOG_STORE_PATH", "store", "path", ENV_SCALAR },
        { "GATELOG_SEAL_EPOCH", "seal", "epoch", ENV_SCALAR },
        { "GATELOG_SEAL_KEY", "seal", "key", ENV_SCALAR },
        { "GATELOG_RUN_PID_FILE", "run", "pid_file", ENV_SCALAR },
        { "GATELOG_RUN_USER", "run", "user", ENV_SCALAR },
        { "GATELOG_RUN_GROUP", "run", "group", ENV_SCALAR },
        { "GATELOG_RUN_ALLOW_ROOT", "run", "allow_root", ENV_BOOL },
        { "GATELOG_LOG_LEVEL", "log", "level", ENV_SCALAR },
        { "GATELOG_LOG_FORMAT", "log", "format", ENV_SCALAR },
        { "GATELOG_HTTP_ENABLED", "http", "enabled", ENV_BOOL },
        { "GATELOG_HTTP_LISTEN", "http", "listen", ENV_SCALAR },
        { "GATELOG_HTTP_READY_MAX_BACKLOG", "http", "ready_max_backlog", ENV_SCALAR },
};
#define ENV_KNOBS (sizeof(env_knobs) / sizeof(env_knobs[0]))

/* Appends s as a YAML double-quoted scalar (n bytes), then end (a newline, or ""). */
static int env_quote(struct buf *b, const char *s, size_t n, const char *end)
{
        int r = buf_putc(b, '"');

        for (size_t i = 0; r >= 0 && i < n; i++) {
                unsigned char ch = (unsigned char)s[i];

                if (ch == '"' || ch == '\\')
                        r = buf_printf(b, "\\%c", ch);
                else if (ch < 0x20 || ch == 0x7f)
                        r = buf_printf(b, "\\x%02x", ch);
                else
                        r = buf_putc(b, (char)ch);
        }
        return r < 0 ? r : buf_printf(b, "\"%s", end);
}

static int env_value(struct buf *b, const struct env_knob *k, const char *v)
{
        if (k->kind == ENV_BOOL) {
                /* The spellings environments use for booleans. */
                if (!strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "on"))
                        v = "true";
                else if (!strcmp(v, "0") || !strcmp(v, "no") || !strcmp(v, "off"))
                        v = "false";
        }
        if (k->kind != ENV_LISTEN)
                return env_quote(b, v, strlen(v), "\n");
        /* "udp:127.0.0.1:514,tcp:[::]:514,unix:/run/gatelog/log.sock" */
        int r = buf_putc(b, '\n');
        for (const char *p = v; r >= 0;) {
                const char *end = strchr(p, ','), *colon;
                size_t n = end ? (size_t)(end - p) : strlen(p);

                colon = memchr(p, ':', n);
                r = buf_puts(b, "    - ");
                if (r >= 0 && colon) {
                        r = env_quote(b, p, (size_t)(colon - p), ": ");
                        if (r >= 0)
                                r = env_quote(b, colon + 1, n - (size_t)(colon + 1 - p), "\n");
                } else if (r >= 0) {
                        r = env_quote(b, p, n, "\n");
                }
                if (!end)
                        break;
                p = end + 1;
        }
        return r;
}

static unsigned count_lines(const struct buf *b)
{
        unsigned n = 0;

        for (size_t i = 0; i < b->len; i++)
                n += b->data[i] == '\n';
        return n;
}

/* Builds the overrides document; first_line[i] is the 1-based line where knob i starts (0
 * when unset). *ret is "" when no knob is set. Caller frees. */
static int env_document(char **ret, unsigned first_line[ENV_KNOBS])
{
        struct buf b = BUF_INIT;
        const char *open_section = NULL;
        int r = buf_puts(&b, "");

        for (size_t i = 0; r >= 0 && i < ENV_KNOBS; i++) {
                const struct env_knob *k = &env_knobs[i];
                const char *v = getenv(k->var);

                first_line[i] = 0;
                if (!v)
                        continue;
                if (k->section && (!open_section || strcmp(open_section, k->section) != 0)) {
                        r = buf_printf(&b, "%s:\n", k->section);
                        open_section = k->section;
                } else if (!k->section) {
                        open_section = NULL;
                }
                first_line[i] = count_lines(&b) + 1;
                if (r >= 0)
                        r = buf_printf(&b, "%s%s: ", k->section ? "  " : "", k->key);
                if (r >= 0)
                        r = env_value(&b, k, v);
        }
        if (r < 0) {
                buf_free(&b);
                return r;
        }
        *ret = buf_steal(&b, NULL);
        return *ret ? 0 : -ENOMEM;
}

int config_env_yaml(char **ret)
{
        unsigned lines[ENV_KNOBS];

        return env_document(ret, lines);
}

int config_apply_env(struct config *c, struct config_error *err)
{
        unsigned lines[ENV_KNOBS];
        struct config_error e = { 0 };
        struct cfg_ctx x = { .err = &e };
        char *text = NULL;
        int r = env_document(&text, lines);

        if (r < 0 || !text[0]) {
                free(text);
                return r;
        }
        snprintf(e.file, sizeof(e.file), "environment");
        r = cfg_parse_document(&x, text, strlen(text), c);
        free(text);
        if (r == -EINVAL && err) {
                /* Name the variable whose lines hold the error. */
                const char *var = NULL;

                for (size_t i = 0; i < ENV_KNOBS; i++)
                        if (lines[i] && lines[i] <= e.line)
                                var = env_knobs[i].var;
                if (var)
                        snprintf(e.file, sizeof(e.file), "%s", var);
                e.line = e.column = 0;
                *err = e;
        } else if (r < 0 && err) {
                memset(err, 0, sizeof(*err));
                snprintf(err->file, sizeof(err->file), "environment");
                snprintf(err->msg, sizeof(err->msg), "%s", strerror(-r));
        }
        return r;
}
