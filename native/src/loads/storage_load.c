/*
 * Storage jobs: see storage_load.h. One job is one load thread: its descriptor, its ring, its
 * queue_depth blocks in flight, and a loop that reaps, checks, records and resubmits.
 *
 * Timing is the echo load's: t0 is one clock read just before the io_uring_submit that really
 * submits the I/O (with SQPOLL: makes it visible to the kernel thread), the end one clock read
 * right after the wait returns, shared by every CQE reaped then, rounded up to whole µs.
 *
 * Submission is fio's (iodepth_batch_submit, storage.submitBatch): the slots the reap freed are
 * prepared and submitted at most submit_batch per io_uring_submit, 1 by default, so each I/O
 * reaches the device on its own as soon as its slot is free. One io_uring_enter with many SQEs
 * is cheaper in CPU, but io_uring then plugs the block layer over them and the device gets
 * them as one batch: on a virtio disk (randread 4 KiB QD 32) the host served such batches
 * together, half the queue per interrupt instead of all of it, each I/O ~30 % longer at the
 * device and 15–18 % fewer IOPS than fio with the same ring (measured: README, storage).
 *
 * The loop needs no wake-up or deadline SQE (an IOPOLL ring takes neither a poll nor a
 * timeout): it waits at most STOP_CHECK_NS at a time (IORING_ENTER_EXT_ARG, no SQE) and looks
 * at the worker's eventfd and the deadline that often.
 */
#define _GNU_SOURCE
#include "loads/storage_load.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/fs.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/counters.h"
#include "core/prefault.h"
#include "core/start_cancel.h"

/* How often the loop looks at the stop eventfd and the deadline. */
#define STOP_CHECK_NS (10 * 1000 * 1000ull)
/* Teardown waits this long for the I/O still in flight. */
#define DRAIN_NS (2 * NS_PER_SEC)
/* The first I/O of a job must complete within this. */
#define PROBE_NS (5 * NS_PER_SEC)
/* storage_prepare writes the pattern this many bytes at a time. */
#define FILL_CHUNK (1u << 20)

struct storage_job {
	struct io_uring ring;
	int ring_ok;
	struct load *pub;
	const struct storage_config *cfg;
	int fd;
	int writes;
	int fixed_buffers, fixed_file;
	unsigned char *bufs;
	size_t buf_bytes;
	unsigned qd, block;
	uint64_t nblocks;
	uint64_t cursor; /* sequential patterns: the next block */
	uint64_t rng;
	uint64_t *slot_off;
	unsigned *pending; /* free slots waiting for their next I/O (no SQE yet) */
	unsigned npending;
	unsigned submit_batch; /* SQEs per io_uring_submit at most, 1..qd */
	unsigned inflight;
	int stopping;
};

static int is_write(enum storage_pattern p)
{
	return p == STORAGE_RANDWRITE || p == STORAGE_WRITE;
}

static int is_random(enum storage_pattern p)
{
	return p == STORAGE_RANDREAD || p == STORAGE_RANDWRITE;
}

/* The pattern over n bytes (8-byte multiple) that sit at file offset off. */
static void fill_words(unsigned char *p, size_t n, uint64_t off, uint64_t seed)
{
	uint64_t *w = (uint64_t *)p;

	for (size_t i = 0; i < n / 8; i++)
		w[i] = storage_pattern_word(off + 8 * i, seed);
}

/* 1 when the block read from off holds the pattern. */
static int check_words(const unsigned char *p, size_t n, uint64_t off, uint64_t seed)
{
	const uint64_t *w = (const uint64_t *)p;
	uint64_t bad = 0;

	/* No early exit: the loop vectorises, and a good block (the usual case) reads it all anyway. */
	for (size_t i = 0; i < n / 8; i++)
		bad |= w[i] ^ storage_pattern_word(off + 8 * i, seed);
	return bad == 0;
}

void storage_device_name(unsigned major, unsigned minor, char *out, size_t n)
{
	char link[64], target[PATH_MAX];
	ssize_t len;

	out[0] = 0;
	snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", major, minor);
	len = readlink(link, target, sizeof(target) - 1);
	if (len <= 0)
		return;
	target[len] = 0;
	const char *base = strrchr(target, '/');
	snprintf(out, n, "%s", base ? base + 1 : target);
}

static int fill_file(int fd, const struct storage_config *cfg)
{
	unsigned char *buf = malloc(FILL_CHUNK);
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	if (ftruncate(fd, (off_t)cfg->size_bytes)) {
		ret = -errno;
		goto out;
	}
	for (uint64_t off = 0; off < cfg->size_bytes; off += FILL_CHUNK) {
		size_t n = cfg->size_bytes - off < FILL_CHUNK ? (size_t)(cfg->size_bytes - off) : FILL_CHUNK;
		/* A 1 GiB fill takes seconds: a start called off stops between chunks. */
		if (start_cancelled()) {
			ret = -ECANCELED;
			goto out;
		}
		fill_words(buf, n, off, cfg->seed);
		for (size_t done = 0; done < n;) {
			ssize_t w = pwrite(fd, buf + done, n - done, (off_t)(off + done));
			if (w < 0) {
				if (errno == EINTR)
					continue;
				ret = -errno;
				goto out;
			}
			done += (size_t)w;
		}
	}
	if (fsync(fd))
		ret = -errno;
	/* Reads must reach the device, not the pages the fill left in the cache. */
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
out:
	free(buf);
	return ret;
}

int storage_prepare(struct storage_config *cfg, struct storage_info *info, enum start_step *step)
{
	struct stat st;
	uint64_t have;
	int ret = 0;
	int fd;

	memset(info, 0, sizeof(*info));
	*step = STEP_STORAGE_OPEN;
	if (cfg->block_bytes < 512 || cfg->block_bytes % 512 || cfg->queue_depth < 1)
		return -EINVAL;
	fd = open(cfg->path, (cfg->fill || is_write(cfg->pattern) ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		ret = -errno;
		goto out;
	}
	if (S_ISBLK(st.st_mode)) {
		info->is_block_device = 1;
		info->dev_major = major(st.st_rdev);
		info->dev_minor = minor(st.st_rdev);
		if (ioctl(fd, BLKGETSIZE64, &have)) {
			ret = -errno;
			goto out;
		}
		if (cfg->fill) { /* the lab never fills a device: only files it created */
			ret = -EINVAL;
			goto out;
		}
	} else if (S_ISREG(st.st_mode)) {
		info->dev_major = major(st.st_dev);
		info->dev_minor = minor(st.st_dev);
		/* A file the lab fills is made as large as asked; anyone else's is used as it is,
		 * never extended. */
		have = cfg->fill ? cfg->size_bytes : (uint64_t)st.st_size;
	} else {
		ret = -EINVAL;
		goto out;
	}
	storage_device_name(info->dev_major, info->dev_minor, info->device, sizeof(info->device));
	if (have < cfg->size_bytes)
		cfg->size_bytes = have;
	cfg->size_bytes -= cfg->size_bytes % cfg->block_bytes;
	if (cfg->size_bytes == 0) { /* not one whole block to work on */
		ret = -EINVAL;
		goto out;
	}
	info->size_bytes = cfg->size_bytes;
	if (cfg->fill) {
		*step = STEP_STORAGE_FILL;
		ret = fill_file(fd, cfg);
	}
out:
	close(fd);
	return ret;
}

/* ---- the job ---- */

static uint64_t next_block(struct storage_job *j)
{
	if (is_random(j->cfg->pattern)) {
		/* xorshift64*: cheap, and every job its own stream. */
		j->rng ^= j->rng >> 12;
		j->rng ^= j->rng << 25;
		j->rng ^= j->rng >> 27;
		return (j->rng * 0x2545F4914F6CDD1Dull) % j->nblocks;
	}
	uint64_t b = j->cursor;
	j->cursor = b + 1 == j->nblocks ? 0 : b + 1;
	return b;
}

static unsigned char *slot_buf(struct storage_job *j, unsigned slot)
{
	return j->bufs + (size_t)slot * j->block;
}

/* Prepares slot's I/O at the next block (read_anyway: a read of block 0); the slot is stamped
 * just before the submit. */
static int prep_slot(struct storage_job *j, unsigned slot, int read_anyway)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&j->ring);
	uint64_t off;
	unsigned char *buf = slot_buf(j, slot);
	int fd = j->fixed_file ? 0 : j->fd;

	if (!sqe)
		return -EBUSY; /* the SQ holds at least queue_depth entries: cannot happen */
	off = read_anyway ? 0 : next_block(j) * j->block;
	j->slot_off[slot] = off;
	if (j->writes && !read_anyway) {
		fill_words(buf, j->block, off, j->cfg->seed);
		if (j->fixed_buffers)
			io_uring_prep_write_fixed(sqe, fd, buf, j->block, off, 0);
		else
			io_uring_prep_write(sqe, fd, buf, j->block, off);
	} else {
		if (j->fixed_buffers)
			io_uring_prep_read_fixed(sqe, fd, buf, j->block, off, 0);
		else
			io_uring_prep_read(sqe, fd, buf, j->block, off);
	}
	if (j->fixed_file)
		sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, slot);
	return 0;
}

/* Stamps the n slots just prepared with one clock read, then submits them (and only them: the
 * SQ holds no other prepared SQE). io_uring_submit's result. */
static int submit_slots(struct storage_job *j, const unsigned *slots, unsigned n)
{
	struct load *l = j->pub;
	uint64_t t0 = mono_ns();

	for (unsigned i = 0; i < n; i++)
		__atomic_store_n(&l->inflight_t0[slots[i]], t0, __ATOMIC_RELAXED);
	j->inflight += n;
	return io_uring_submit(&j->ring);
}

/*
 * Gives every pending slot its next I/O, submit_batch per io_uring_submit. 0, or the first
 * submit error that ends the job (EINTR, EAGAIN, EBUSY do not: the SQEs stay in the SQ and go
 * with the next submit); then the slots not yet prepared are dropped, as the job stops.
 */
static int submit_pending(struct storage_job *j)
{
	unsigned done = 0;
	int ret = 0;

	while (done < j->npending) {
		unsigned n = j->npending - done < j->submit_batch ? j->npending - done : j->submit_batch;

		for (unsigned i = 0; i < n; i++)
			prep_slot(j, j->pending[done + i], 0);
		ret = submit_slots(j, j->pending + done, n);
		done += n;
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			break;
		ret = 0;
	}
	j->npending = 0;
	__atomic_store_n(&j->pub->outstanding, j->inflight, __ATOMIC_RELAXED);
	return ret;
}

/* One completion at time `now`: latency and verification (its bytes are the block size: a
 * snapshot counts them from the histogram). 1 if the I/O succeeded. */
static int complete(struct storage_job *j, struct io_uring_cqe *cqe, uint64_t now)
{
	struct load *l = j->pub;
	unsigned slot = (unsigned)cqe->user_data;
	uint64_t t0 = __atomic_load_n(&l->inflight_t0[slot], __ATOMIC_RELAXED);
	int res = cqe->res;

	__atomic_store_n(&l->inflight_t0[slot], 0, __ATOMIC_RELAXED);
	j->inflight--;
	if (res != (int)j->block) {
		/* A failed or short I/O (the region is whole blocks, so short means wrong). */
		counter_add(&l->errors, 1);
		return 0;
	}
	uint64_t us = lh_ns_to_us(now > t0 ? now - t0 : 0);
	lh_record(&l->hist, us);
	/* A closed loop with a fixed queue depth: the corrected view is the raw one (as fio's). */
	lh_record(&l->corrected, us);
	if (j->cfg->verify && !j->writes && !check_words(slot_buf(j, slot), j->block, j->slot_off[slot], j->cfg->seed))
		counter_add(&l->errors, 1);
	return 1;
}

static void job_ring_exit(struct storage_job *j)
{
	if (j->ring_ok)
		io_uring_queue_exit(&j->ring);
	j->ring_ok = 0;
}

/* The job's ring with the requested knobs, and the buffer and file registrations. */
static int job_ring(struct storage_job *j, int iopoll, struct ring_setup_result *res)
{
	struct ring_request req = j->cfg->ring;
	int ret;

	req.iopoll = iopoll;
	req.iopoll_files = 1;
	if (req.entries < j->qd + 1)
		req.entries = j->qd + 1;
	/* Two-job rings share nothing: ATTACH_WQ is the server's multi-ring knob. */
	req.attach_wq = 0;
	req.cq_min = 0;
	ret = ring_setup(&j->ring, &req, res);
	if (ret)
		return ret;
	j->ring_ok = 1;
	j->fixed_buffers = j->fixed_file = 0;
	if (j->cfg->registered_buffers) {
		struct iovec iov = { .iov_base = j->bufs, .iov_len = j->buf_bytes };
		ret = io_uring_register_buffers(&j->ring, &iov, 1);
		if (ret == 0)
			j->fixed_buffers = 1;
		else
			ring_refuse(res, RING_SETTING_REGISTERED_BUFFERS, ret, REFUSAL_REFUSED);
	}
	if (j->cfg->direct_descriptors) {
		ret = io_uring_register_files(&j->ring, &j->fd, 1);
		if (ret == 0)
			j->fixed_file = 1;
		else
			ring_refuse(res, RING_SETTING_DIRECT_DESCRIPTORS, ret, REFUSAL_REFUSED);
	}
	res->registered_buffers = j->fixed_buffers;
	res->direct_descriptors = j->fixed_file;
	return 0;
}

/* Reads block 0 and waits for it: the ring's first I/O. Its res (or a submit/wait errno). */
static int probe(struct storage_job *j)
{
	struct io_uring_cqe *cqe;
	uint64_t until = mono_ns() + PROBE_NS;
	const unsigned slot0 = 0;
	int ret = prep_slot(j, slot0, 1);

	if (ret == 0)
		ret = submit_slots(j, &slot0, 1);
	if (ret < 0)
		return ret;
	for (;;) {
		struct __kernel_timespec ts = kernel_timespec(STOP_CHECK_NS);
		ret = io_uring_wait_cqe_timeout(&j->ring, &cqe, &ts);
		if (ret == 0)
			break;
		if ((ret != -ETIME && ret != -EINTR) || mono_ns() > until)
			return ret == -ETIME ? -ETIMEDOUT : ret;
	}
	int res = cqe->res;
	if (res == (int)j->block) {
		complete(j, cqe, mono_ns());
	} else {
		__atomic_store_n(&j->pub->inflight_t0[0], 0, __ATOMIC_RELAXED);
		j->inflight--;
		if (res >= 0)
			res = -EIO;
	}
	io_uring_cqe_seen(&j->ring, cqe);
	__atomic_store_n(&j->pub->outstanding, j->inflight, __ATOMIC_RELAXED);
	return res < 0 ? res : 0;
}

static int job_setup(void *owner, void *state, enum start_step *step)
{
	struct load *l = owner;
	struct storage_job *j = state;
	const struct storage_config *cfg = l->cfg.storage;
	struct ring_setup_result *res = &l->ring;
	int ret;

	j->pub = l;
	j->cfg = cfg;
	j->fd = -1;
	/* A name to find the job threads by (top -H, perf), and so the engine's pinning of its own
	 * bookkeeping threads (pinThreads, which skips worker names) leaves them alone, as it does
	 * uring-srv-* and uring-load. */
	pthread_setname_np(pthread_self(), "uring-storage");
	j->qd = cfg->queue_depth;
	j->block = cfg->block_bytes;
	j->nblocks = cfg->size_bytes / cfg->block_bytes;
	j->writes = is_write(cfg->pattern);
	/* Like fio, a batch larger than the queue depth is the queue depth. */
	j->submit_batch = cfg->submit_batch == 0 ? 1 : cfg->submit_batch > j->qd ? j->qd : cfg->submit_batch;
	j->rng = (cfg->seed ^ (0x9E3779B97F4A7C15ull * (l->cfg.conn_base + 1))) | 1;

	/* load.cpus pins jobs as it pins echo load threads (the lab's own threads keep off those
	 * CPUs either way): before the ring, whose io-wq helpers inherit it. */
	ret = load_pin_self(l, step);
	if (ret)
		return ret;
	*step = STEP_STORAGE_OPEN;
	j->fd = open(cfg->path, (j->writes ? O_RDWR : O_RDONLY) | (cfg->direct ? O_DIRECT : 0) | O_CLOEXEC);
	if (j->fd < 0)
		return -errno;

	*step = STEP_LOAD_ALLOC;
	j->slot_off = calloc(j->qd, sizeof(*j->slot_off));
	j->pending = calloc(j->qd, sizeof(*j->pending));
	if (!j->slot_off || !j->pending)
		return -ENOMEM;
	/* Page-aligned: O_DIRECT wants the logical block size at least. Touched once here, in
	 * set-up, like the echo load's buffers (core/prefault.h): a page's first touch is not a
	 * cost of the I/O the run measures. */
	j->buf_bytes = mem_page_round((uint64_t)j->qd * j->block);
	void *mem = mmap(NULL, j->buf_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -errno;
	j->bufs = mem;
	ret = prefault_zero(mem, j->buf_bytes);
	if (ret)
		return ret;

	*step = STEP_LOAD_RING_SETUP;
	ret = job_ring(j, cfg->ring.iopoll, res);
	if (ret)
		return ret;

	*step = STEP_STORAGE_IO;
	ret = probe(j);
	if (ret == -EOPNOTSUPP && res->iopoll) {
		/*
		 * The device took the IOPOLL ring and refused the I/O: it has no poll queues (virtio-blk
		 * never has; NVMe only with nvme.poll_queues=N). Refused like any knob, with this errno;
		 * the job goes on interrupt-driven. What else was refused stays recorded.
		 */
		struct ring_setup_result again;
		job_ring_exit(j);
		ret = job_ring(j, 0, &again);
		if (ret)
			return ret;
		for (int i = 0; i < res->nrefused; i++)
			if (res->refused[i].flag != RING_SETTING_REGISTERED_BUFFERS &&
			    res->refused[i].flag != RING_SETTING_DIRECT_DESCRIPTORS)
				ring_refuse(&again, res->refused[i].flag, res->refused[i].err, res->refused[i].cause);
		ring_refuse(&again, IORING_SETUP_IOPOLL, -EOPNOTSUPP, REFUSAL_NO_POLL_QUEUES);
		*res = again;
		ret = probe(j);
	}
	if (ret)
		return ret;
	__atomic_store_n(&l->live_conns, j->qd, __ATOMIC_RELAXED);
	__atomic_store_n(&l->running, 1, __ATOMIC_RELEASE);
	return 0;
}

/* 1 when the worker's eventfd was written (stop) or the deadline passed. */
static int should_stop(struct storage_job *j, uint64_t now)
{
	struct pollfd p = { .fd = j->pub->worker.wake_fd, .events = POLLIN };

	if (now >= j->pub->cfg.deadline_ns)
		return 1;
	return poll(&p, 1, 0) == 1;
}

/* Reaps every CQE there is, dated `now`; unless stopping, its slot waits for the next submit. */
static void reap(struct storage_job *j, uint64_t now)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&j->ring, head, cqe) {
		int ok = complete(j, cqe, now);
		unsigned slot = (unsigned)cqe->user_data;
		n++;
		/* EOPNOTSUPP mid-run on an IOPOLL ring (the probe passed): nothing will succeed now. */
		if (!ok && cqe->res == -EOPNOTSUPP)
			j->stopping = 1;
		if (!j->stopping)
			j->pending[j->npending++] = slot;
	}
	io_uring_cq_advance(&j->ring, n);
	__atomic_store_n(&j->pub->outstanding, j->inflight + j->npending, __ATOMIC_RELAXED);
}

static void job_run(void *state)
{
	struct storage_job *j = state;
	struct load *l = j->pub;
	uint64_t next_check = mono_ns() + STOP_CHECK_NS;

	for (unsigned s = 0; s < j->qd; s++)
		j->pending[j->npending++] = s;
	while (!j->stopping) {
		struct __kernel_timespec ts = kernel_timespec(STOP_CHECK_NS);
		struct io_uring_cqe *cqe;
		int ret;

		if (j->npending && submit_pending(j) < 0) {
			counter_add(&l->errors, 1);
			break;
		}
		ret = io_uring_wait_cqe_timeout(&j->ring, &cqe, &ts);
		uint64_t now = mono_ns();
		if (ret < 0 && ret != -ETIME && ret != -EINTR) {
			counter_add(&l->errors, 1);
			break;
		}
		reap(j, now);
		if (now >= next_check) {
			next_check = now + STOP_CHECK_NS;
			if (should_stop(j, now))
				j->stopping = 1;
		}
	}
	__atomic_store_n(&l->running, 0, __ATOMIC_RELEASE);
}

static void job_teardown(void *state, int ran)
{
	struct storage_job *j = state;
	struct load *l = j->pub;

	(void)ran;
	j->stopping = 1;
	if (j->ring_ok) {
		/* Disk I/O always completes: wait for it (bounded) instead of cancelling. */
		uint64_t until = mono_ns() + DRAIN_NS;
		j->npending = 0; /* free slots never given an I/O */
		while (j->inflight > 0 && mono_ns() < until) {
			struct __kernel_timespec ts = kernel_timespec(STOP_CHECK_NS);
			struct io_uring_cqe *cqe;
			int ret = io_uring_wait_cqe_timeout(&j->ring, &cqe, &ts);
			if (ret < 0 && ret != -ETIME && ret != -EINTR)
				break;
			reap(j, mono_ns());
		}
	}
	worker_before_ring_exit(&l->worker);
	job_ring_exit(j);
	if (j->fd >= 0)
		close(j->fd);
	if (l->inflight_t0)
		for (unsigned i = 0; i < l->cfg.nconns; i++)
			__atomic_store_n(&l->inflight_t0[i], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&l->outstanding, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&l->live_conns, 0, __ATOMIC_RELAXED);
	free(j->slot_off);
	free(j->pending);
	/* Kept if I/O could not be reaped: the kernel may still write into it. */
	if (j->bufs && j->inflight == 0)
		munmap(j->bufs, j->buf_bytes);
}

static void storage_memory(unsigned qd, unsigned block_bytes, struct memory_needs *m)
{
	unsigned entries = qd + 1;
	uint64_t ring = ring_kernel_bytes(entries, ring_setup_cq_entries(entries, 0));

	m->load_buffers += mem_page_round((uint64_t)qd * block_bytes);
	m->rings += ring;
	m->memlock += ring;
	m->conn_state += (uint64_t)qd * 2 * sizeof(uint64_t) + sizeof(struct storage_job) + sizeof(struct load);
}

const struct load_ops storage_load_ops = {
	.body = { sizeof(struct storage_job), job_setup, job_run, job_teardown },
	.memory = storage_memory,
};
