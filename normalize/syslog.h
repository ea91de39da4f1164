/* Internal to normalize/: what the RFC 5424 and RFC 3164 parsers share with record.c.
 *
 * A parser fills a struct syslog_msg whose text fields are spans borrowed from the message
 * being parsed (the caller keeps it alive until the record is built); only the structured
 * data is built directly as JSON. Parsers never fail on bad input: they set flags and
 * error text instead. They fail only with -ENOMEM. */
#pragma once
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/json.h"

/* Flag bits, declared in alphabetical order of their names so that walking the bits in
 * order yields the sorted "flags" array the record promises. */
enum syslog_flag {
        SF_BAD_PRI,
        SF_BAD_SD,
        SF_BAD_TIMESTAMP,
        SF_INVALID_UTF8,
        SF_MALFORMED,
        SF_NO_TIMESTAMP,
        SF_TRUNCATED,
        SF_YEAR_INFERRED,
        SF__MAX
};

/* A piece of the message; p == NULL means absent (null in the record). */
struct syslog_span {
        const char *p;
        size_t n;
};

/* The error text is short: the first few problems, joined by "; ", cut at the cap. */
#define SYSLOG_ERROR_MAX 160

struct syslog_msg {
        const char *format;       /* "rfc5424", "rfc3164" or "unknown" (static) */
        int pri;                  /* 0..191, or -1 when unknown */
        bool has_time;            /* false: the record's time is the receipt time */
        int64_t time_us;          /* the header's time, UTC */
        struct syslog_span host, app, procid, msgid, message;
        json *sd;                 /* owned object {SD-ID: {PARAM: value|[values]}}; NULL = {} */
        unsigned flags;           /* 1u << enum syslog_flag */
        char error[SYSLOG_ERROR_MAX];
};

/* Sets a flag and, when fmt is not NULL, appends a problem to m->error. */
void syslog_msg_flag(struct syslog_msg *m, enum syslog_flag f, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Gives up on the header (RFC 3164 section 4.3.2/4.3.3): every header field is dropped,
 * the message becomes content[0..n), format "unknown", flags malformed + no_timestamp. */
void syslog_msg_malformed(struct syslog_msg *m, const char *content, size_t n,
                          const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Parses the PRI part, RFC 5424 section 6.2.1 / RFC 3164 section 4.1.1: "<" 1-3 digits ">",
 * value 0..191, no leading zero except "<0>". Returns the bytes used (> 0) with *ret_pri,
 * 0 when s does not start with '<' (no PRI at all), or -EINVAL when it starts with '<' but
 * is no valid PRI. */
int syslog_parse_pri(const char *s, size_t n, int *ret_pri);

/* RFC 3339 date-time as RFC 5424 section 6.2.3 profiles it, with the deviations real
 * senders show (see syslog-5424.c). Returns 0 and *ret_us (UTC) or -EINVAL. */
int syslog_parse_rfc3339(const char *s, size_t n, int64_t *ret_us);

/* Parse s[0..n), the message after its PRI (s[0] is just past '>'), into m. m->pri is set
 * by the caller. The RFC 3164 parser needs the receipt time to infer the year. Both return
 * 0 or -ENOMEM. */
int syslog_parse_5424(const char *s, size_t n, struct syslog_msg *m);
int syslog_parse_3164(const char *s, size_t n, int64_t received_us, struct syslog_msg *m);

/* Standard base64 (RFC 4648 section 4, with padding) of n bytes. The caller frees the
 * NUL-terminated result; NULL when out of memory. */
char *norm_base64(const void *p, size_t n);
