/* libcurl's function table; see outputs/curl-dl.h. No global state: each user (an S3 client,
 * a time-stamp request, --version) holds its own table; dlopen counts the references and
 * RTLD_NODELETE keeps libcurl mapped once loaded, so curl_global_init is never undone. */
#include "outputs/curl-dl.h"

#include <string.h>

#include "core/dl.h"

int curl_dl_open(struct curl_dl *ret, char *err, size_t err_len)
{
        return dl_open(&ret->handle, CURL_DL_SONAME, CURL_DL_PACKAGE, err, err_len,
                       DL_SYM(ret->global_init, curl_global_init),
                       DL_SYM(ret->easy_init, curl_easy_init),
                       DL_SYM(ret->easy_cleanup, curl_easy_cleanup),
                       DL_SYM(ret->easy_reset, curl_easy_reset),
                       DL_SYM(ret->easy_setopt, curl_easy_setopt),
                       DL_SYM(ret->easy_perform, curl_easy_perform),
                       DL_SYM(ret->easy_getinfo, curl_easy_getinfo),
                       DL_SYM(ret->easy_strerror, curl_easy_strerror),
                       DL_SYM(ret->slist_append, curl_slist_append),
                       DL_SYM(ret->slist_free_all, curl_slist_free_all),
                       DL_SYM(ret->version_info, curl_version_info), NULL);
}

void curl_dl_close(struct curl_dl *d)
{
        d->handle = dl_close(d->handle);
        memset(d, 0, sizeof(*d));
}
