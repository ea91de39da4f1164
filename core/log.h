/* The daemon's own log: one logfmt (or JSON) line per state change, to stderr.
 * Library code does not log; the caller that decides what happens next logs once. */
#pragma once

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* The log level and format are the only mutable globals outside main (STYLE.md). */
extern enum log_level log_max_level;
extern int log_json;

/* msg is a short fixed text; the varargs are key=value pairs given as a printf format,
 * e.g. log_write(LOG_LVL_INFO, "listening", "transport=%s addr=%s", "udp", a).
 * Thread-safe: each line is written with one write(2). */
void log_write(enum log_level lvl, const char *msg, const char *kv_fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Line formats (the kv text is capped at LOG_LINE_MAX bytes; longer text is cut and the line
 * gains truncated=1):
 *   logfmt (default): ts=2026-12-01T04:03:12.123456Z level=info msg="..." <kv as given>
 *     msg is quoted and escaped; control bytes in the kv text become \xNN, so a line never
 *     splits.
 *   JSON (log_json != 0): {"ts":"...","level":"info","msg":"...","key":"value",...}
 *     Each key=value pair of the kv text becomes a member, in the order given, and every
 *     value is a JSON string (kv=3 gives "kv":"3"). Values may be bare (up to the next space)
 *     or "double-quoted" with backslash escapes. A bare word without '=' gives "word":"".
 *     Keys are not de-duplicated; callers should not use ts, level or msg as keys. */
#define log_error(msg, ...) log_write(LOG_LVL_ERROR, msg, __VA_ARGS__)
#define log_warn(msg, ...)  log_write(LOG_LVL_WARN, msg, __VA_ARGS__)
#define log_info(msg, ...)  log_write(LOG_LVL_INFO, msg, __VA_ARGS__)
#define log_debug(msg, ...) log_write(LOG_LVL_DEBUG, msg, __VA_ARGS__)
