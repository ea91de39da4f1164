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

#define log_error(msg, ...) log_write(LOG_LVL_ERROR, msg, __VA_ARGS__)
#define log_warn(msg, ...)  log_write(LOG_LVL_WARN, msg, __VA_ARGS__)
#define log_info(msg, ...)  log_write(LOG_LVL_INFO, msg, __VA_ARGS__)
#define log_debug(msg, ...) log_write(LOG_LVL_DEBUG, msg, __VA_ARGS__)
