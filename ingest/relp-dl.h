/* librelp, loaded on first use (core/dl.h): only a daemon with RELP listeners needs it;
 * linking it made every command map it and GnuTLS at start (round 13). The table's members
 * are named after librelp's functions: r->rl.relpEngineRun(r->eng). */
#pragma once
#include <stddef.h>  /* librelp.h uses size_t without including it */
#include <librelp.h>

#define RELP_DL_SONAME "librelp.so.0"
#define RELP_DL_PACKAGE "librelp0"

/* The functions ingest/relp.c calls, one X(name) each. */
#define RELP_DL_FUNCS(X)                                                                     \
        X(relpEngineConstruct) X(relpEngineDestruct) X(relpEngineRun) X(relpEngineSetStop)  \
        X(relpEngineSetDbgprint) X(relpEngineSetDnsLookupMode) X(relpEngineSetOnErr)        \
        X(relpEngineSetOnAuthErr) X(relpEngineSetOnGenericErr) X(relpEngineSetSyslogRcv2)   \
        X(relpEngineSetEnableCmd) X(relpEngineSetTLSLibByName)                              \
        X(relpEngineListnerConstruct) X(relpEngineListnerConstructFinalize)                 \
        X(relpSrvSetUsrPtr) X(relpSrvSetLstnPort) X(relpSrvSetLstnAddr)                     \
        X(relpSrvSetMaxDataSize) X(relpSrvSetOversizeMode) X(relpSrvEnableTLS2)             \
        X(relpSrvSetOwnCert) X(relpSrvSetPrivKey) X(relpSrvSetCACert) X(relpSrvSetAuthMode) \
        X(relpSrvAddPermittedPeer) X(relpSrvSetTlsConfigCmd)

#define RELP_DL_SLOT(f) __typeof__(f) *f;
/* Typed by librelp.h (checked by DL_SYM). Filled by relp_dl_open, owned by its holder; the
 * pointers stay valid until exit. */
struct relp_dl {
        void *handle;
        RELP_DL_FUNCS(RELP_DL_SLOT)
};
#undef RELP_DL_SLOT

/* Loads librelp (a reference if it is already loaded) and fills *ret. Returns 0, or -ENOENT
 * with err naming the library, its soname and Debian package (*ret untouched). Thread-safe. */
int relp_dl_open(struct relp_dl *ret, char *err, size_t err_len);
/* Drops the table's reference and zeroes it; accepts a zeroed or already closed table. */
void relp_dl_close(struct relp_dl *d);
