/* The copy-distance measurement; see copy_placement.h. */
#define _GNU_SOURCE
#include "core/copy_placement.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"

#define BLOCK (64 * 1024)
#define NEAR_OFFSET 16
#define FAR_OFFSET 64
/* Rounds per offset, interleaved, and write + read pairs per round: ~160 ms of the slow copy at
 * most (0.5 ns per byte), a few ms where there is no penalty. */
#define ROUNDS 5
#define PAIRS 32

/* One round at `dst`: PAIRS writes of src into the pipe, each read back whole; ns per pair, or 0. */
static uint64_t round_ns(int rfd, int wfd, const char *src, char *dst)
{
	uint64_t t0 = mono_ns();

	for (int i = 0; i < PAIRS; i++) {
		size_t got = 0;

		if (write(wfd, src, BLOCK) != BLOCK)
			return 0;
		while (got < BLOCK) {
			ssize_t n = read(rfd, dst + got, BLOCK - got);
			if (n <= 0)
				return 0;
			got += (size_t)n;
		}
	}
	return (mono_ns() - t0) / PAIRS;
}

void copy_distance_measure(struct copy_distance *out)
{
	int fds[2] = { -1, -1 };
	char *src = NULL, *dst = NULL;

	memset(out, 0, sizeof(*out));
	out->block = BLOCK;
	out->near_offset = NEAR_OFFSET;
	out->far_offset = FAR_OFFSET;
	if (pipe2(fds, O_CLOEXEC)) {
		out->err = -errno;
		return;
	}
	/* A whole block fits (the default 64 KiB pipe would too; more is headroom), and a write
	 * never waits for its read. */
	if (fcntl(fds[1], F_SETPIPE_SZ, 2 * BLOCK) < 0 && errno != EPERM) {
		out->err = -errno;
		goto done;
	}
	src = copy_buffer_alloc(BLOCK);
	dst = copy_buffer_alloc(BLOCK + COPY_PLACEMENT_ALIGN);
	if (!src || !dst) {
		out->err = -ENOMEM;
		goto done;
	}
	/* Touched first: no page fault inside a timed copy. */
	memset(src, 0x5a, BLOCK);
	memset(dst, 0, BLOCK + COPY_PLACEMENT_ALIGN);
	out->near_ns = out->far_ns = UINT64_MAX;
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t near = round_ns(fds[0], fds[1], src, dst + NEAR_OFFSET);
		uint64_t far = round_ns(fds[0], fds[1], src, dst + FAR_OFFSET);

		if (!near || !far) {
			out->err = -EIO;
			break;
		}
		if (near < out->near_ns)
			out->near_ns = near;
		if (far < out->far_ns)
			out->far_ns = far;
	}
	if (out->err)
		out->near_ns = out->far_ns = 0;
done:
	free(src);
	free(dst);
	close(fds[0]);
	close(fds[1]);
}
