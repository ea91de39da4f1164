/* Every limit of gatelog in one place, with why that number. */
#pragma once

/* A growing buffer never passes this unless its owner sets a smaller cap: 64 MiB is far above
 * any record (messages are capped at 64 KiB by default) yet stops a runaway. */
#define BUF_DEFAULT_MAX (64u * 1024 * 1024)

/* Default cap on one syslog message; larger ones are truncated and flagged (config key
 * syslog.max_message). 64 KiB is rsyslog's and syslog-ng's common upper setting. */
#define SYSLOG_MAX_MESSAGE_DEFAULT (64u * 1024)
/* Hard ceiling for syslog.max_message: 1 MiB, the largest a UDP/TCP syslog relay sends. */
#define SYSLOG_MAX_MESSAGE_CEIL (1024u * 1024)

/* RFC 6587 octet counting: the MSG-LEN field has at most this many digits (OpenBSD syslogd
 * accepts 10). Nine digits allow 999,999,999 bytes, far above the message cap. */
#define SYSLOG_FRAME_MAX_DIGITS 9

/* JSON parser nesting limit: deep enough for any real event, shallow enough for the stack. */
#define JSON_MAX_DEPTH 64

/* Queue between collectors and the writer, in events (config key queue.max_events). */
#define QUEUE_MAX_EVENTS_DEFAULT 65536

/* Writer: events per SQLite transaction, and the longest an event waits for its commit. */
#define WRITER_BATCH_MAX 1024
#define WRITER_BATCH_WAIT_US (50 * 1000)

/* Concurrent TCP connections on one listener: above this, new ones are refused and counted. */
#define TCP_MAX_CONNECTIONS_DEFAULT 1024

/* Epoch length bounds: 1 s for tests, a day at most so that evidence is sealed daily. */
#define EPOCH_MIN_SECONDS 1
#define EPOCH_MAX_SECONDS 86400

/* One line of the daemon's own log: longer key=value text is cut (and marked "truncated=1"),
 * since pipes guarantee atomic writes only up to PIPE_BUF and a runaway line helps no one.
 * 16 KiB leaves room for a full error context and a path or two. */
#define LOG_LINE_MAX (16u * 1024)
