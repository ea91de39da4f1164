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

/* Queue between collectors and the writer, in events (config key queue.max_events). A
 * queued syslog event holds its record block (3 KiB for a line up to ~450 bytes, 8 KiB up to
 * ~3 KiB) and its struct, so for ordinary lines the byte budget below binds first (~3,600
 * events); this count binds for small events (Kafka, journald). A larger queue bought no
 * throughput in the benchmark: once it is full, the writer's rate decides. */
#define QUEUE_MAX_EVENTS_DEFAULT 8192
/* The same queue in bytes (config key queue.max_bytes, issue 12): what its events hold in
 * memory (event_bytes). Under overload the queue is full, so this budget is the largest
 * single term of the daemon's peak RSS; the rest is the writer's own in-flight records
 * (up to WRITER_MAP_QUEUE + WRITER_COMMIT_MAX mapped, ~6 MiB, and the mapper's batch of
 * trees), the stager's feed (4 MiB), SQLite's caches and ~12 MiB of shared libraries.
 * 12 MiB is ~3,600 typical events, ~30 ms at the full path's rate, beside the ~4,000 the
 * writer holds; paused collectors resume at half. 24 MiB (before round 9) gave the same
 * rate and CPU per event on the TCP full path and on Kafka, and 12 MiB more peak RSS:
 * 61 MiB instead of 49 at 3x UDP overload, against the 64 MiB target (docs/PERFORMANCE.md,
 * round 9, mem9). Large events stay bounded too (8 KiB messages make ~20 KiB events). */
#define QUEUE_MAX_BYTES_DEFAULT ((size_t)12 << 20)

/* Writer: events per SQLite transaction, and the longest an event waits for its commit. */
#define WRITER_BATCH_MAX 1024
#define WRITER_BATCH_WAIT_US (50 * 1000)
/* Between the writer's mapper and storing threads (issue 12): two batches, so the mapper
 * fills one while the store commits the other; mapped events are ~1 KiB of bytes. Never
 * more than a quarter of queue.max_events, so that memory stays near what that key says. */
#define WRITER_MAP_QUEUE (2 * WRITER_BATCH_MAX)
/* Events the storing thread commits in one transaction when that many are already mapped
 * and waiting (it never waits to fill past WRITER_BATCH_MAX). Each commit's fdatasync is a
 * near-fixed wait (~2-8 ms on these VMs, little more for 2 MB than for 1 MB) that blocks the
 * storing thread, the full path's serial stage: at 1,024 per commit it was ~2-9 us of that
 * thread's wall per event beside ~3.2 us of CPU (issue 12, docs/PERFORMANCE.md "flow7"). A
 * whole map queue per commit halves that wait per event, for up to 1,024 more mapped
 * records (~1.3 MiB) held by the storing thread while it commits. */
#define WRITER_COMMIT_MAX WRITER_MAP_QUEUE
/* Commits handed from the storing thread to gl-sync (cli/writer-sync.c) and not yet synced.
 * The storing thread commits again only once gl-sync is idle or its transaction is full
 * (WRITER_COMMIT_MAX), so at steady state at most one waits while another syncs; a slot
 * holds no events (the acks, the drop counts and the metrics tally, ~1 KiB, plus 16 KiB of
 * pointers for the rare batch whose events are kept for the metrics), so a few spare slots
 * cost little; a full ring only makes the storing thread wait. */
#define WSYNC_PENDING_MAX 4

/* Concurrent TCP connections on one listener: above this, new ones are refused and counted. */
#define TCP_MAX_CONNECTIONS_DEFAULT 1024

/* Epoch length bounds: 1 s for tests, a day at most so that evidence is sealed daily. */
#define EPOCH_MIN_SECONDS 1
#define EPOCH_MAX_SECONDS 86400

/* One line of the daemon's own log: longer key=value text is cut (and marked "truncated=1"),
 * since pipes guarantee atomic writes only up to PIPE_BUF and a runaway line helps no one.
 * 16 KiB leaves room for a full error context and a path or two. */
#define LOG_LINE_MAX (16u * 1024)

/* ---- Kafka collector (issue 6) ---- */
/* Topic-partitions one collector tracks: the index is part of each event's sink token (16
 * bits), and a table this size costs 32 KiB of pointers. Far above any real assignment. */
#define KAFKA_PARTITIONS_MAX 4096
/* Messages taken from librdkafka per loop wakeup: bounded work, the rest on the next turn. */
#define KAFKA_POLL_BATCH 256
/* kafka[].max_message: Kafka's own default message.max.bytes is ~1 MiB; longer payloads are
 * cut and flagged truncated. The ceiling keeps one record's JSON parse bounded. */
#define KAFKA_MAX_MESSAGE_DEFAULT (1024u * 1024)
#define KAFKA_MAX_MESSAGE_CEIL (16u * 1024 * 1024)
/* kafka[].drain_timeout: how long a revoke waits for its partitions' queued events to be
 * committed before it releases them anyway (a rebalance stalls the whole group meanwhile). */
#define KAFKA_DRAIN_TIMEOUT_DEFAULT_US (10 * 1000 * 1000)
/* Asking the group coordinator for committed offsets on assignment (a blocking round trip). */
#define KAFKA_COMMITTED_TIMEOUT_MS 5000
/* kafka[].claim_window: how far past the offset being queued a failover claim reaches (the
 * broker's commit metadata, docs/CONFIG.md): one synchronous commit per that many messages
 * per partition; after a failover at most that many records are marked as possible
 * redeliveries beyond what the dead instance had really stored. */
#define KAFKA_CLAIM_WINDOW_DEFAULT 4096
#define KAFKA_CLAIM_WINDOW_MAX (1 << 24)
/* A claim commit waits this long on the loop thread before the event is held and retried. */
#define KAFKA_CLAIM_TIMEOUT_MS 2000

/* ---- syslog over TLS and RELP (issue 8) ---- */
/* A TLS handshake takes a few round trips; 10 s covers a slow link and stops a client that
 * connects and says nothing (slow loris) from holding a slot. */
#define INGEST_TLS_HANDSHAKE_TIMEOUT_US (10 * 1000 * 1000)
/* A TLS connection that delivers no complete message for this long is closed (a relay
 * reconnects at once; a slow-loris client that trickles bytes loses its slot). */
#define INGEST_TLS_IDLE_TIMEOUT_US (300LL * 1000 * 1000)
/* Connections from one address on one TLS listener: a relay needs one or two; 64 leaves room
 * for NAT while one host cannot take every slot. */
#define INGEST_TLS_MAX_PER_PEER_DEFAULT 64
/* RELP resends what was not acknowledged when a session breaks: a message stored again within
 * this window from the same peer with the same bytes is flagged "possible_duplicate". An hour
 * covers a sender's outage retries; 65536 remembered messages bound the memory (2.5 MiB). */
#define RELP_DEDUP_WINDOW_US (3600LL * 1000 * 1000)
#define RELP_DEDUP_MAX 65536
