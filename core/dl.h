/* Libraries loaded on first use (dlopen), the way systemd loads its optional ones
 * (src/shared/dlfcn-util.h, dlopen_many_sym_or_warn and DLSYM_ARG).
 *
 * Why: one executable serves the daemon and the auditor commands. Linking libcurl (and its
 * ~30 dependencies) or libmicrohttpd makes every `gatelog verify`, `query` or `--version` map
 * and relocate them at start, milliseconds of CPU for libraries those commands never call.
 * A module per library (outputs/curl-dl.h, cli/mhd-dl.h) keeps a table of function pointers
 * typed by the library's own header, filled by dl_open. */
#pragma once
#include <stddef.h>

/* DL_SYM(slot, symbol): one argument pair for dl_open, the address of a function pointer and
 * the symbol's name. The slot must have exactly the type of &symbol as the library's header
 * declares it (checked at compile time), so a prototype that changes breaks the build. */
#define DL_SYM(slot, sym)                                                                     \
        ((void)sizeof(char[__builtin_types_compatible_p(__typeof__(slot), __typeof__(&(sym))) \
                                   ? 1 : -1]),                                                \
         (void *)&(slot)), #sym

/* Loads soname (a versioned soname, "libcurl.so.4": the ABI the header was compiled for) and
 * resolves the DL_SYM pairs that follow err_len, ended by NULL. The library is loaded with
 * RTLD_NOW (a missing symbol fails here, not mid-request) and RTLD_NODELETE (it stays mapped
 * until exit, as if it had been linked: the libraries' global initialisation is never undone
 * under another thread). Loading an already loaded library only takes a reference.
 * Returns 0 with *ret_handle set (release with dl_close) and every slot filled, or -ENOENT
 * when the library cannot be loaded or lacks a symbol, with err naming the library, its
 * soname and the Debian package that installs it; then nothing is written but err.
 * Thread-safe (dlopen and dlsym are); may block on disk reads the first time. */
int dl_open(void **ret_handle, const char *soname, const char *package, char *err,
            size_t err_len, ...);
/* Drops the reference dl_open took; accepts NULL; returns NULL. */
void *dl_close(void *handle);
