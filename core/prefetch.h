/* prefetch(): a cache prefetch the compiler keeps (issue 12). GCC 12 (-O2, -O3) deletes a
 * __builtin_prefetch that sits under a condition inside a loop: the storing thread's
 * prefetches compiled to nothing until this (objdump). A prefetch never faults, so any
 * address will do. Used by cli/writer.c and core/event.c's event_free_batch. */
#ifndef GATELOG_CORE_PREFETCH_H
#define GATELOG_CORE_PREFETCH_H

static inline void prefetch(const void *p)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
        __asm__ volatile("prefetcht0 (%0)" : : "r"(p));
#else
        __builtin_prefetch(p);
#endif
}

#endif
