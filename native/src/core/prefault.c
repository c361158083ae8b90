#define _GNU_SOURCE
#include "core/prefault.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "core/start_cancel.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

/* 16 MiB: a few ms of populate, so the mmap lock is never held long. */
#define PREFAULT_CHUNK ((size_t)16 << 20)

int prefault_zero(void *p, size_t bytes)
{
	unsigned char *c = p;

	for (size_t off = 0; off < bytes; off += PREFAULT_CHUNK) {
		size_t n = bytes - off < PREFAULT_CHUNK ? bytes - off : PREFAULT_CHUNK;

		if (start_cancelled())
			return -ECANCELED;
		/* A refusal (an old kernel, EINVAL) leaves the faults to the memset. */
		(void)madvise(c + off, n, MADV_POPULATE_WRITE);
		memset(c + off, 0, n);
	}
	return 0;
}
