/*
 * The storage workload (profile `workload: "storage"`): jobs in fio's sense, each a load thread
 * with its own ring (core/ring_setup.c, with the server's ring knobs), its own descriptor of
 * the file or block device (O_DIRECT by default) and queue_depth reads or writes in flight at
 * random or sequential block offsets. Every completion's latency goes into the thread's
 * histogram (ns from the submit to the reap, rounded up to µs); bytes and errors into its
 * counters. The engine drives it through core/load.h like the echo load, with no server.
 *
 * Verification: the pattern is defined per 8-byte word of the file, so it does not depend on
 * the block size: the word at file offset o holds o ^ seed. The lab fills a file it created
 * with it (storage_prepare), writes write it, and with `verify` every read block is checked
 * word by word (a mismatch is an error). A user's file is not the lab's to check: verify is
 * off for it (the host decides).
 *
 * IOPOLL: a device without poll queues accepts the IOPOLL ring and then completes every I/O
 * with EOPNOTSUPP. Each job's setup reads one block before it reports ready; when that first
 * completion is EOPNOTSUPP on an IOPOLL ring, the ring is made again without IOPOLL and IOPOLL
 * is recorded refused (REFUSAL_NO_POLL_QUEUES, with that errno): the run goes on interrupt-driven,
 * like every other refused knob, and the host names the device and the fix.
 */
#ifndef URING_LAB_LOADS_STORAGE_LOAD_H
#define URING_LAB_LOADS_STORAGE_LOAD_H

#include <limits.h>
#include <stdint.h>

#include "core/load.h"
#include "core/ring_setup.h"

#ifdef __cplusplus
extern "C" {
#endif

enum storage_pattern { STORAGE_RANDREAD = 0, STORAGE_READ, STORAGE_RANDWRITE, STORAGE_WRITE };

#define STORAGE_DEVICE_NAME_MAX 64

struct storage_config {
	char path[PATH_MAX];   /* a regular file or a block device (the host checked it may be used) */
	uint64_t size_bytes;   /* the region used: [0, size_bytes), at most the file's or device's size */
	unsigned block_bytes;  /* bytes per I/O; a multiple of 512 */
	enum storage_pattern pattern;
	unsigned queue_depth;  /* per job (fio's iodepth: every job has all of it) */
	unsigned submit_batch; /* I/Os per io_uring_submit at most (fio's iodepth_batch_submit); 0 = 1, above queue_depth = queue_depth */
	int direct;            /* O_DIRECT */
	int fill;              /* before the jobs start: size the file and write the pattern over it */
	int verify;            /* check every read against the pattern */
	uint64_t seed;
	/* The server's ring knobs as they apply to a job's ring (iopoll, sqpoll, taskrun, entries,
	 * registered ring fd), and the two registrations: */
	struct ring_request ring;
	int registered_buffers; /* io_uring_register_buffers over the job's blocks: READ_FIXED / WRITE_FIXED */
	int direct_descriptors; /* io_uring_register_files with the job's descriptor: IOSQE_FIXED_FILE */
};

/* What the engine learns about the target before the jobs start. */
struct storage_info {
	uint64_t size_bytes;   /* the region the jobs use */
	unsigned dev_major, dev_minor; /* the device holding the file, or the device itself */
	char device[STORAGE_DEVICE_NAME_MAX]; /* its name in /sys/dev/block (e.g. "vda1"), "" if none */
	int is_block_device;
};

extern const struct load_ops storage_load_ops;

/* The word the pattern puts at file offset `off` (8-byte aligned). */
static inline uint64_t storage_pattern_word(uint64_t off, uint64_t seed)
{
	return off ^ seed;
}

/*
 * On the starting thread, before any job: opens the target once, finds its size and device,
 * clamps cfg->size_bytes to what exists (whole blocks), and with cfg->fill sizes the file and
 * writes the pattern over the region (then fsync and drops its pages, so reads reach the
 * device). 0, or -errno with *step (STEP_STORAGE_OPEN / STEP_STORAGE_FILL) at fault.
 */
int storage_prepare(struct storage_config *cfg, struct storage_info *info, enum start_step *step);

/* The device name of dev_t (MAJ:MIN) from /sys/dev/block/MAJ:MIN; "" when none. */
void storage_device_name(unsigned major, unsigned minor, char *out, size_t n);

#ifdef __cplusplus
}
#endif

#endif
