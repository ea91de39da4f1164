/* What auditors filter and count records by (issue 10): `gatelog query` and `gatelog
 * report` share it.
 *
 * Filters match members of the gate record's JSON:
 *   --action/--outcome/--rule/--app V   the member is the string V;
 *   --actor/--target V                  the member is the string V, or an object with any
 *                                       string member equal to V (user, ip, host, ...);
 *   --actor/--target KEY=V              the object's member KEY is the string V.
 * V ending in '*' matches by prefix ("sshd.login.*"). A filter given several times matches
 * any of its values; different filters must all match.
 *
 * Groups: day (UTC date of the event time), actor (actor.user, else actor.ip, else the
 * string actor, else "-"), outcome, rule, app, host, action (the string member, "-" when
 * null or absent). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/json.h"

#define QUERY_VALUES_MAX 16          /* values per filter */
#define QUERY_GROUPS_MAX 1000000     /* distinct group keys kept in memory */

enum query_field { QF_ACTOR, QF_ACTION, QF_TARGET, QF_OUTCOME, QF_RULE, QF_APP, QF_N };

struct query_match {
        const char *vals[QF_N][QUERY_VALUES_MAX];  /* borrowed (argv) */
        size_t n[QF_N];
};

/* Adds a value to filter field ("actor", ...). -EINVAL unknown field, -E2BIG too many. */
int query_match_add(struct query_match *m, const char *field, const char *value);
bool query_match_any(const struct query_match *m);  /* is any filter set? */
bool query_match_record(const struct query_match *m, const json *rec);

/* Is by a group name? */
bool query_group_valid(const char *by);
/* Appends the group key of rec under by. time_us is the record's event time. */
int query_group_key(const char *by, const json *rec, int64_t time_us, struct buf *out);

/* Counts per key. */
struct query_group {
        char *key;               /* NUL-terminated; key_len bytes (may hold a NUL) */
        size_t key_len;
        uint64_t count;
};
struct query_groups {
        struct query_group *v;   /* sorted by key (bytewise) while adding */
        size_t n, alloc;
};
/* Adds one to key's count. 0, -ENOMEM, -E2BIG (more than QUERY_GROUPS_MAX keys). */
int query_groups_add(struct query_groups *g, const char *key, size_t len, uint64_t n);
/* by_count: sorts by count descending, then key; else keeps key order. */
void query_groups_sort(struct query_groups *g, bool by_count);
void query_groups_free(struct query_groups *g);

/* --dedupe (issue 6): each Kafka message once across chains. A failover can leave one Kafka
 * message in two or three chains (docs/FORMAT.md section 11, the later copies marked
 * source.redelivery); counting every chain's records counts it more than once. The set
 * remembers the (topic, partition, offset) of each Kafka record taken: 16 bytes per Kafka
 * record (topics interned), other records cost nothing. */
struct query_seen {
        struct query_seen_key *v;   /* open addressing; cap a power of two */
        size_t n, cap;
        char **topics;
        size_t n_topics, cap_topics;
};
/* Is rec a Kafka record whose (topic, partition, offset) an earlier call already took?
 * Returns 1: first time (or not a Kafka record), taken; 0: seen before; -ENOMEM. */
int query_seen_take(struct query_seen *s, const json *rec);
void query_seen_free(struct query_seen *s);
