/* libmicrohttpd's function table; see cli/mhd-dl.h. No global state: the HTTP endpoint and
 * --version each hold their own table; dlopen counts the references and RTLD_NODELETE keeps
 * the library mapped once loaded (its thread may still be stopping when a table is closed). */
#include "cli/mhd-dl.h"

#include <string.h>

#include "core/dl.h"

int mhd_dl_open(struct mhd_dl *ret, char *err, size_t err_len)
{
        struct mhd_dl d = {0};
        int r = dl_open(&d.handle, MHD_DL_SONAME, MHD_DL_PACKAGE, err, err_len,
                        DL_SYM(d.start_daemon, MHD_start_daemon),
                        DL_SYM(d.stop_daemon, MHD_stop_daemon),
                        DL_SYM(d.create_response_from_buffer, MHD_create_response_from_buffer),
                        DL_SYM(d.add_response_header, MHD_add_response_header),
                        DL_SYM(d.queue_response, MHD_queue_response),
                        DL_SYM(d.destroy_response, MHD_destroy_response),
                        DL_SYM(d.get_version, MHD_get_version), NULL);

        if (r < 0)
                return r;
        *ret = d;
        return 0;
}

void mhd_dl_close(struct mhd_dl *d)
{
        d->handle = dl_close(d->handle);
        memset(d, 0, sizeof(*d));
}
