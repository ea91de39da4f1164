/* libcurl, loaded on first use (core/dl.h): only S3 exports and RFC 3161 requests need it,
 * and linking it made every command map it and its ~30 dependencies at start (round 13).
 * Callers call through the table: c->easy_setopt(h, CURLOPT_URL, url). */
#pragma once
#include <curl/curl.h>

#define CURL_DL_SONAME "libcurl.so.4"
#define CURL_DL_PACKAGE "libcurl4"

/* The functions gatelog calls, typed by curl/curl.h (checked by DL_SYM). A table is filled
 * by curl_dl_open and owned by whoever holds it; the pointers stay valid until exit. */
struct curl_dl {
        void *handle;
        __typeof__(curl_global_init) *global_init;
        __typeof__(curl_easy_init) *easy_init;
        __typeof__(curl_easy_cleanup) *easy_cleanup;
        __typeof__(curl_easy_reset) *easy_reset;
        __typeof__(curl_easy_setopt) *easy_setopt;
        __typeof__(curl_easy_perform) *easy_perform;
        __typeof__(curl_easy_getinfo) *easy_getinfo;
        __typeof__(curl_easy_strerror) *easy_strerror;
        __typeof__(curl_slist_append) *slist_append;
        __typeof__(curl_slist_free_all) *slist_free_all;
        __typeof__(curl_version_info) *version_info;
};

/* Loads libcurl (a reference if it is already loaded) and fills *ret. Returns 0, or -ENOENT
 * with err naming libcurl, its soname and Debian package (*ret untouched). Thread-safe. */
int curl_dl_open(struct curl_dl *ret, char *err, size_t err_len);
/* Drops the table's reference and zeroes it; accepts a zeroed or already closed table. */
void curl_dl_close(struct curl_dl *d);
