/* libmicrohttpd's function table; see cli/mhd-dl.h. No global state: the HTTP endpoint and
 * --version each hold their own table; dlopen counts the references and RTLD_NODELETE keeps
 * the library mapped once loaded (its thread may still be stopping when a table is closed). */
#include "cli/mhd-dl.h"

#include <string.h>

#include "core/dl.h"

int mhd_dl_open(struct mhd_dl *ret, char *err, size_t err_len)
{
        return dl_open(&ret->handle, MHD_DL_SONAME, MHD_DL_PACKAGE, err, err_len,
                       DL_SYM(ret->start_daemon, MHD_start_daemon),
                       DL_SYM(ret->stop_daemon, MHD_stop_daemon),
                       DL_SYM(ret->create_response_from_buffer, MHD_create_response_from_buffer),
                       DL_SYM(ret->add_response_header, MHD_add_response_header),
                       DL_SYM(ret->queue_response, MHD_queue_response),
                       DL_SYM(ret->destroy_response, MHD_destroy_response),
                       DL_SYM(ret->get_version, MHD_get_version), NULL);
}

void mhd_dl_close(struct mhd_dl *d)
{
        d->handle = dl_close(d->handle);
        memset(d, 0, sizeof(*d));
}
