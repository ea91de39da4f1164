/* librelp's function table; see ingest/relp-dl.h. No global state: each RELP server holds
 * its own table; dlopen counts the references and RTLD_NODELETE keeps librelp mapped once
 * loaded (a server whose engine thread did not stop is leaked to the exit, still running). */
#include "ingest/relp-dl.h"

#include <string.h>

#include "core/dl.h"

int relp_dl_open(struct relp_dl *ret, char *err, size_t err_len)
{
#define RELP_DL_ARG(f) DL_SYM(ret->f, f),
        return dl_open(&ret->handle, RELP_DL_SONAME, RELP_DL_PACKAGE, err, err_len,
                       RELP_DL_FUNCS(RELP_DL_ARG) NULL);
#undef RELP_DL_ARG
}

void relp_dl_close(struct relp_dl *d)
{
        d->handle = dl_close(d->handle);
        memset(d, 0, sizeof(*d));
}
