/*
 * Touching a buffer's pages once before a run measures anything, without holding the
 * process's mmap lock for long.
 */
#ifndef URING_LAB_CORE_PREFAULT_H
#define URING_LAB_CORE_PREFAULT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Allocates and zeroes every page of [p, p + bytes) (an anonymous private mapping), a chunk
 * at a time. Why: the first access to a page is dear (a fault; in a shadow-paged guest like
 * this PVM VM ~7 µs more, even after the kernel has populated it) and must not land inside a
 * run. Why in chunks: MAP_POPULATE on the whole mapping holds the mmap lock for the whole of
 * it, and a writer queued behind it (V8 growing its heap) then stalls every other thread of
 * the process: at 4,096 × 1 MiB (8 GiB of load buffers) the engine's JS thread went silent
 * for 5 s and the host killed it as hung. Each chunk is populated with MADV_POPULATE_WRITE
 * (Linux 5.14; older kernels fault page by page in the memset) and then written once.
 * Returns 0, or -ECANCELED when the start it serves was called off between two chunks
 * (core/start_cancel.h): the caller unwinds as from any failed set-up step.
 */
int prefault_zero(void *p, size_t bytes);

#ifdef __cplusplus
}
#endif

#endif
