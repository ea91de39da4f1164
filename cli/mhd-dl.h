/* libmicrohttpd, loaded on first use (core/dl.h): only the daemon's HTTP endpoint (and
 * --version) needs it; linking it made every auditor command map it and GnuTLS at start
 * (round 13). Callers call through the table: m->queue_response(c, status, r). */
#pragma once
#include <microhttpd.h>

#define MHD_DL_SONAME "libmicrohttpd.so.12"
#define MHD_DL_PACKAGE "libmicrohttpd12"

/* The functions gatelog calls, typed by microhttpd.h (checked by DL_SYM). A table is filled
 * by mhd_dl_open and owned by whoever holds it; the pointers stay valid until exit. */
struct mhd_dl {
        void *handle;
        __typeof__(MHD_start_daemon) *start_daemon;
        __typeof__(MHD_stop_daemon) *stop_daemon;
        __typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
        __typeof__(MHD_add_response_header) *add_response_header;
        __typeof__(MHD_queue_response) *queue_response;
        __typeof__(MHD_destroy_response) *destroy_response;
        __typeof__(MHD_get_version) *get_version;
};

/* Loads libmicrohttpd (a reference if it is already loaded) and fills *ret. Returns 0, or
 * -ENOENT with err naming the library, its soname and Debian package (*ret untouched).
 * Thread-safe. */
int mhd_dl_open(struct mhd_dl *ret, char *err, size_t err_len);
/* Drops the table's reference and zeroes it; accepts a zeroed or already closed table. */
void mhd_dl_close(struct mhd_dl *d);
