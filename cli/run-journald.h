/* gatelog run's journald part: one collector per `journald:` item, resumed from the
 * positions the store holds. */
#pragma once
#include <stddef.h>

#include "cli/config.h"
#include "core/event.h"
#include "core/loop.h"
#include "core/queue.h"

struct run_journald;

/* Reads every source's stored position with its own read-only connection to the store (call
 * after writer_open created the file and before writer_start, so that no event of this run
 * is stored yet), then opens, seeks and registers each collector in loop. With no journald
 * section it does nothing (*ret NULL). Returns 0 or -errno after logging what failed. */
int run_journald_start(const struct config *cfg, struct loop *loop, struct queue *q,
                       struct drop_counters *drops, struct run_journald **ret);
/* Stops reading (before queue_close) and frees. Accepts NULL. */
void run_journald_free(struct run_journald *rj);
