/* dlopen of a versioned soname and dlsym of a list of symbols; see core/dl.h.
 * Load: once per object that uses an optional library (an S3 client, a time-stamp request,
 * the HTTP endpoint); the first call maps the library, later ones take a reference.
 * Guarantees: all symbols or none: the slots are written only after every lookup succeeded. */
#include "core/dl.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The slots are function pointers written through their address: POSIX guarantees a
 * function pointer and void * have the same representation (dlsym relies on it). */
_Static_assert(sizeof(void (*)(void)) == sizeof(void *), "function pointers as void *");

int dl_open(void **ret_handle, const char *soname, const char *package, char *err,
            size_t err_len, ...)
{
        void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
        va_list ap;

        if (!h) {
                snprintf(err, err_len, "cannot load %s (Debian package %s): %s", soname,
                         package, dlerror());
                return -ENOENT;
        }
        /* First pass: every symbol resolves; second pass: write them all. */
        va_start(ap, err_len);
        while (va_arg(ap, void *)) {
                const char *name = va_arg(ap, const char *);
                if (!dlsym(h, name)) {
                        snprintf(err, err_len, "%s (Debian package %s) lacks %s: %s", soname,
                                 package, name, dlerror());
                        va_end(ap);
                        dlclose(h);
                        return -ENOENT;
                }
        }
        va_end(ap);
        va_start(ap, err_len);
        for (void *slot; (slot = va_arg(ap, void *));) {
                void *p = dlsym(h, va_arg(ap, const char *));
                memcpy(slot, &p, sizeof(p));
        }
        va_end(ap);
        *ret_handle = h;
        return 0;
}

void *dl_close(void *handle)
{
        if (handle)
                dlclose(handle);
        return NULL;
}
