/* RELP (issue 8): the daemon's side of the duplicate window. */
#pragma once
#include "ingest/ingest.h"

/* ingest_syslog_config.relp_seed_cb: ud is the database path. Feeds the RELP duplicate
 * window the raw_sha256 and peer of every RELP record the store received within
 * RELP_DEDUP_WINDOW_US (read-only connection), so that what a sender resends after a
 * restart is flagged "possible_duplicate". Errors are logged; the window then starts empty. */
void run_relp_seed_cb(void *ud, struct ingest_syslog *s);
