/*
 * The registry of active injections, the fork of the process faults' children, their reaper
 * threads, memoryPressure's cgroup, and the server toggles (through the engine).
 *
 * A child's pid is only signalled while it is known not to be reaped: the reaper waits with
 * WNOWAIT (the child stays a zombie, its pid cannot be reused), then marks it reaped and
 * reaps it under the registry lock, the same lock inject_stop_all holds while it kills.
 */
#define _GNU_SOURCE
#include "inject/inject.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/cpu_list.h"
#include "core/engine.h"
#include "core/lab_threads.h"
#include "inject/inject_child.h"

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
#ifndef __NR_close_range
#define __NR_close_range 436
#endif

#define MEMPRESS_TMP_DIR "/var/tmp"
/* How long the reaper retries removing an emptied cgroup (the kernel may still be uncharging). */
#define CGROUP_RMDIR_TRIES 100
/* How long inject_start waits for its children to be set up. */
#define CHILD_READY_TIMEOUT_NS (2 * NS_PER_SEC)

struct injection {
	int used;
	struct inject_info info; /* info.pids: every child forked; reaped[] says which are gone */
	int reaped[INJECT_PIDS_MAX];
	char cgroup[256];        /* memoryPressure's cgroup directory, "" when none */
	char cgroup_procs[300];
	pthread_t reaper;
	int has_reaper;
	int reaper_done;         /* the reaper has finished: join it */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct injection slots[INJECT_ACTIVE_MAX];
static int next_id = 1;

static const char *const kind_names[INJECT_KINDS] = {
	[INJECT_CPU_HOG] = "cpuHog",
	[INJECT_MEMORY_PRESSURE] = "memoryPressure",
	[INJECT_IO_WQ_PUNT] = "ioWqPunt",
	[INJECT_BUFFER_STARVATION] = "bufferStarvation",
	[INJECT_SERVER_PAUSE] = "serverPause",
	[INJECT_SOFTIRQ_LOAD] = "softirqLoad",
};

const char *inject_kind_name(enum inject_kind kind)
{
	return (unsigned)kind < INJECT_KINDS ? kind_names[kind] : "?";
}

/* ---- in the child (async-signal-safe only) ---- */

uint64_t inject_child_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return timespec_ns(&ts);
}

void inject_child_prologue(const struct inject_child *c)
{
	/* The engine's sockets, rings and listeners must not live on in a child: a listener
	 * held here would keep the port after the engine stopped. */
	if (c->ready_fd > 3)
		syscall(__NR_close_range, 3u, (unsigned)c->ready_fd - 1, 0u);
	syscall(__NR_close_range, (unsigned)c->ready_fd + 1, ~0u, 0u);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL))
		_exit(CHILD_PRCTL);
	/* The parent may have died before the prctl: then nobody would kill this child. */
	if (getppid() != c->parent)
		_exit(CHILD_ORPHANED);
	prctl(PR_SET_NAME, c->name);
	/* A competitor competes like any task, not like the lab's bookkeeping it was forked from. */
	lab_threads_child_policy();
	if (sched_setaffinity(0, sizeof(c->cpus), &c->cpus))
		_exit(CHILD_AFFINITY);
}

void inject_child_ready(const struct inject_child *c)
{
	char one = 1;

	if (write(c->ready_fd, &one, 1) != 1) {
		/* The parent gave up waiting: go on anyway, the deadline still ends this child. */
	}
	close(c->ready_fd);
}

/* ---- refusals ---- */

static int refuse(struct inject_refusal *why, int err, const char *fix, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int refuse(struct inject_refusal *why, int err, const char *fix, const char *fmt, ...)
{
	va_list ap;

	why->err = err;
	va_start(ap, fmt);
	vsnprintf(why->message, sizeof(why->message), fmt, ap);
	va_end(ap);
	snprintf(why->fix, sizeof(why->fix), "%s", fix);
	return err;
}

/* ---- CPUs ---- */

/* The CPUs to use, in order (the request's, or every online one); 0 or a refusal. */
static int resolve_cpus(const struct inject_request *req, int *cpus, unsigned *ncpus, struct inject_refusal *why)
{
	cpu_set_t online;
	int ret = cpu_list_read("/sys/devices/system/cpu/online", &online);

	if (ret)
		return refuse(why, ret, "check that /sys/devices/system/cpu/online is readable",
			      "%s: the online CPUs could not be read", inject_kind_name(req->kind));
	*ncpus = 0;
	if (!req->ncpus) {
		for (int c = 0; c < CPU_SETSIZE && *ncpus < INJECT_CPUS_MAX; c++)
			if (CPU_ISSET(c, &online))
				cpus[(*ncpus)++] = c;
		return 0;
	}
	for (unsigned i = 0; i < req->ncpus; i++) {
		int c = req->cpus[i];
		if (c < 0 || c >= CPU_SETSIZE || !CPU_ISSET(c, &online))
			return refuse(why, -EINVAL, "list only online CPUs (see /sys/devices/system/cpu/online)",
				      "%s: cpus[%u] = %d is not an online CPU", inject_kind_name(req->kind), i, c);
		int dup = 0;
		for (unsigned j = 0; j < *ncpus; j++)
			dup |= cpus[j] == c;
		if (!dup)
			cpus[(*ncpus)++] = c;
	}
	return 0;
}

/* ---- memoryPressure's cgroup ---- */

static int file_contains(const char *path, const char *word)
{
	char buf[512];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	for (char *p = strstr(buf, word); p; p = strstr(p + 1, word)) {
		size_t l = strlen(word);
		if ((p == buf || p[-1] == ' ' || p[-1] == '\n') && (p[l] == ' ' || p[l] == '\n' || p[l] == '\0'))
			return 1;
	}
	return 0;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int err;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	err = n < 0 ? -errno : 0;
	close(fd);
	return err;
}

/*
 * Creates "<root>/uring-lab-inject-<pid>-<id>" with a 64 MiB limit: cgroup v2 (memory in the
 * root's controllers and subtree_control → memory.max) or v1 (/sys/fs/cgroup/memory →
 * memory.limit_in_bytes). At the hierarchy's root: the host finds a dead engine's leftovers
 * there by name. 0 or a refusal.
 */
static int memcg_create(struct injection *inj, struct inject_refusal *why)
{
	const char *limit_file;
	char root[64], path[300], limit[32];
	int ret;

	if (file_contains("/sys/fs/cgroup/cgroup.controllers", "memory")) {
		if (!file_contains("/sys/fs/cgroup/cgroup.subtree_control", "memory"))
			return refuse(why, -EOPNOTSUPP,
				      "enable it: echo +memory > /sys/fs/cgroup/cgroup.subtree_control",
				      "memoryPressure: the cgroup v2 memory controller is not enabled for child cgroups");
		snprintf(root, sizeof(root), "/sys/fs/cgroup");
		limit_file = "memory.max";
	} else if (access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) == 0) {
		snprintf(root, sizeof(root), "/sys/fs/cgroup/memory");
		limit_file = "memory.limit_in_bytes";
	} else {
		return refuse(why, -EOPNOTSUPP,
			      "mount the memory cgroup (v2 at /sys/fs/cgroup with memory enabled, or v1 at "
			      "/sys/fs/cgroup/memory)",
			      "memoryPressure: no memory cgroup hierarchy is mounted");
	}
	snprintf(inj->cgroup, sizeof(inj->cgroup), "%s/" INJECT_CGROUP_PREFIX "%d-%d", root, (int)getpid(), inj->info.id);
	if (mkdir(inj->cgroup, 0755)) {
		ret = -errno;
		refuse(why, ret, "run the engine as root (or with a delegated memory cgroup)",
		       "memoryPressure: cannot create %s: %s", inj->cgroup, strerror(-ret));
		inj->cgroup[0] = '\0';
		return ret;
	}
	snprintf(path, sizeof(path), "%s/%s", inj->cgroup, limit_file);
	snprintf(limit, sizeof(limit), "%llu", (unsigned long long)INJECT_MEMCG_LIMIT_BYTES);
	ret = write_file(path, limit);
	if (ret) {
		refuse(why, ret, "check that the memory controller accepts limits here",
		       "memoryPressure: cannot set %s: %s", path, strerror(-ret));
		rmdir(inj->cgroup);
		inj->cgroup[0] = '\0';
		return ret;
	}
	snprintf(path, sizeof(path), "%s/cgroup.procs", inj->cgroup);
	memcpy(inj->cgroup_procs, path, sizeof(inj->cgroup_procs) < sizeof(path) ? sizeof(inj->cgroup_procs) : sizeof(path));
	return 0;
}

static void memcg_remove(const char *dir)
{
	struct timespec ms = { 0, 10 * 1000000L };

	/* Empty once its child was reaped; the kernel may take a moment to let go. */
	for (int i = 0; i < CGROUP_RMDIR_TRIES; i++) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return;
		if (errno != EBUSY)
			return;
		nanosleep(&ms, NULL);
	}
}

/* ---- children and their reaper ---- */

/* Kills (SIGKILL) every child of inj not yet reaped; under the lock. */
static void kill_children_locked(struct injection *inj)
{
	for (unsigned i = 0; i < inj->info.npids; i++)
		if (!inj->reaped[i])
			kill(inj->info.pids[i], SIGKILL);
}

static void *reaper_main(void *arg)
{
	struct injection *inj = arg;
	char cgroup[sizeof(inj->cgroup)];

	for (unsigned i = 0; i < inj->info.npids; i++) {
		pid_t pid = inj->info.pids[i];
		siginfo_t si;

		/* Wait without reaping: the zombie keeps the pid from reuse until marked below. */
		while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) && errno == EINTR)
			;
		pthread_mutex_lock(&lock);
		inj->reaped[i] = 1;
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		pthread_mutex_unlock(&lock);
	}
	pthread_mutex_lock(&lock);
	memcpy(cgroup, inj->cgroup, sizeof(cgroup));
	pthread_mutex_unlock(&lock);
	if (cgroup[0])
		memcg_remove(cgroup);
	pthread_mutex_lock(&lock);
	inj->cgroup[0] = '\0';
	inj->reaper_done = 1;
	pthread_mutex_unlock(&lock);
	return NULL;
}

/* Waits (bounded) until n children have written their ready byte or every one has closed the
 * pipe (set up, or died trying): the pids returned are then named and pinned. */
static void wait_ready(int fd, unsigned n)
{
	uint64_t until = mono_ns() + CHILD_READY_TIMEOUT_NS;
	unsigned got = 0;

	while (got < n) {
		uint64_t now = mono_ns();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char buf[64];
		if (now >= until || poll(&p, 1, (int)((until - now) / NS_PER_MS) + 1) <= 0)
			break;
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r <= 0)
			break; /* EOF: every child has written or died */
		got += (unsigned)r;
	}
}

/* Forks one child running body; its pid, or -errno. */
static pid_t spawn(const struct inject_child *c, void (*body)(const struct inject_child *))
{
	pid_t pid = fork();

	if (pid == 0)
		body(c); /* never returns */
	return pid < 0 ? -errno : pid;
}

/* Reaps the children forked so far after a failed start (SIGKILL, then wait). */
static void abandon_children(struct injection *inj)
{
	for (unsigned i = 0; i < inj->info.npids; i++) {
		kill(inj->info.pids[i], SIGKILL);
		while (waitpid(inj->info.pids[i], NULL, 0) < 0 && errno == EINTR)
			;
	}
	inj->info.npids = 0;
}

static int start_children(struct injection *inj, const int *cpus, unsigned ncpus, struct inject_refusal *why)
{
	struct inject_child c = {
		.parent = getpid(),
		.deadline_ns = inj->info.deadline_ns,
		.tmp_dir = MEMPRESS_TMP_DIR,
	};
	void (*body)(const struct inject_child *);
	unsigned nchildren = ncpus;
	int ret;

	switch (inj->info.kind) {
	case INJECT_CPU_HOG:
		c.name = "uring-lab-hog";
		body = cpu_hog_child;
		break;
	case INJECT_SOFTIRQ_LOAD:
		c.name = "uring-lab-softirq";
		body = softirq_load_child;
		break;
	default: {
		struct statfs fs;
		if (statfs(MEMPRESS_TMP_DIR, &fs))
			return refuse(why, -errno, "create " MEMPRESS_TMP_DIR " on a disk file system",
				      "memoryPressure: " MEMPRESS_TMP_DIR " is not there: %s", strerror(errno));
		/* On tmpfs the file's pages would be shmem, not reclaimable page cache: with no
		 * swap the cgroup would OOM instead of reclaiming. */
		if (fs.f_type == TMPFS_MAGIC)
			return refuse(why, -EOPNOTSUPP, "mount " MEMPRESS_TMP_DIR " on a disk file system",
				      "memoryPressure: " MEMPRESS_TMP_DIR " is tmpfs, whose pages cannot be reclaimed "
				      "without swap");
		ret = memcg_create(inj, why);
		if (ret)
			return ret;
		c.name = "uring-lab-mempress";
		c.cgroup_procs = inj->cgroup_procs;
		body = memory_pressure_child;
		break;
	}
	}
	int ready[2];
	if (pipe2(ready, O_CLOEXEC)) {
		ret = -errno;
		if (inj->cgroup[0]) {
			memcg_remove(inj->cgroup);
			inj->cgroup[0] = '\0';
		}
		return refuse(why, ret, "end other processes or raise the open-file limit", "%s: no pipe: %s",
			      inject_kind_name(inj->info.kind), strerror(-ret));
	}
	c.ready_fd = ready[1];
	/* One child per CPU, pinned to it. Memory pressure too: one reader per CPU, all in the one
	 * cgroup, so reclaim runs on every CPU the engine uses (with one reader for all of them the
	 * spike it made was often too small to find: calibration, 14 of 16 found). */
	for (unsigned i = 0; i < nchildren; i++) {
		CPU_ZERO(&c.cpus);
		CPU_SET(cpus[i], &c.cpus);
		pid_t pid = spawn(&c, body);
		if (pid < 0) {
			close(ready[0]);
			close(ready[1]);
			abandon_children(inj);
			if (inj->cgroup[0]) {
				memcg_remove(inj->cgroup);
				inj->cgroup[0] = '\0';
			}
			return refuse(why, pid, "end other processes or raise the process limit (ulimit -u)",
				      "%s: fork failed: %s", inject_kind_name(inj->info.kind), strerror(-pid));
		}
		inj->info.pids[inj->info.npids++] = pid;
	}
	close(ready[1]);
	wait_ready(ready[0], inj->info.npids);
	close(ready[0]);
	ret = pthread_create(&inj->reaper, NULL, reaper_main, inj);
	if (ret) {
		abandon_children(inj);
		if (inj->cgroup[0]) {
			memcg_remove(inj->cgroup);
			inj->cgroup[0] = '\0';
		}
		return refuse(why, -ret, "end other processes or threads and retry",
			      "%s: no reaper thread: %s", inject_kind_name(inj->info.kind), strerror(ret));
	}
	inj->has_reaper = 1;
	int off = snprintf(inj->info.detail, sizeof(inj->info.detail), "%u %s on CPU%s", inj->info.npids,
			   inj->info.npids == 1 ? "child" : "children", ncpus == 1 ? "" : "s");
	for (unsigned i = 0; i < ncpus && off > 0 && (size_t)off < sizeof(inj->info.detail); i++)
		off += snprintf(inj->info.detail + off, sizeof(inj->info.detail) - (size_t)off, "%s%d", i ? "," : " ",
				cpus[i]);
	if (inj->cgroup[0] && off > 0 && (size_t)off < sizeof(inj->info.detail)) {
		char dir[sizeof(inj->cgroup)];
		memcpy(dir, inj->cgroup, sizeof(dir));
		snprintf(inj->info.detail + off, sizeof(inj->info.detail) - (size_t)off, "; cgroup %s (limit %llu MiB)",
			 dir, (unsigned long long)(INJECT_MEMCG_LIMIT_BYTES >> 20));
	}
	return 0;
}

/* ---- server toggles ---- */

static enum engine_toggle toggle_of(enum inject_kind kind)
{
	return kind == INJECT_SERVER_PAUSE ? ENGINE_TOGGLE_PAUSE :
	       kind == INJECT_IO_WQ_PUNT   ? ENGINE_TOGGLE_PUNT :
					     ENGINE_TOGGLE_STARVE;
}

static int is_toggle(enum inject_kind kind)
{
	return kind == INJECT_SERVER_PAUSE || kind == INJECT_IO_WQ_PUNT || kind == INJECT_BUFFER_STARVATION;
}

static int start_toggle(struct injection *inj, struct inject_refusal *why)
{
	const char *name = inject_kind_name(inj->info.kind);
	int ret = engine_set_toggle(toggle_of(inj->info.kind), inj->info.deadline_ns);

	if (ret == -ENOTCONN)
		return refuse(why, ret, "start a run first: server faults are injected during a run",
			      "%s: no engine is running", name);
	if (ret == -ENODEV)
		return refuse(why, ret, "use cpuHog, memoryPressure or softirqLoad, which need no server",
			      "%s: no server of ours runs in this run (a load against a target, or the storage "
			      "workload)", name);
	if (ret == -EOPNOTSUPP)
		return refuse(why, ret, "run with server.engine io_uring",
			      inj->info.kind == INJECT_IO_WQ_PUNT ? "%s: the epoll server has no ring to punt from" :
								    "%s: the epoll server has no provided buffer ring to starve",
			      name);
	if (ret)
		return refuse(why, ret, "retry once the engine has started", "%s: the engine refused: %s", name,
			      strerror(-ret));
	snprintf(inj->info.detail, sizeof(inj->info.detail), "%s on every server worker for %llu ms", name,
		 (unsigned long long)((inj->info.deadline_ns - mono_ns() + NS_PER_MS / 2) / NS_PER_MS));
	return 0;
}

/* ---- the registry ---- */

/* Frees slots whose injection is over: reaper finished (joined here), or toggle expired. */
static void collect_locked(uint64_t now, pthread_t *join, unsigned *njoin)
{
	for (unsigned i = 0; i < INJECT_ACTIVE_MAX; i++) {
		struct injection *inj = &slots[i];
		if (!inj->used)
			continue;
		if (inj->has_reaper ? inj->reaper_done : now >= inj->info.deadline_ns) {
			if (inj->has_reaper)
				join[(*njoin)++] = inj->reaper;
			memset(inj, 0, sizeof(*inj));
		}
	}
}

static void collect(void)
{
	pthread_t join[INJECT_ACTIVE_MAX];
	unsigned njoin = 0;

	pthread_mutex_lock(&lock);
	collect_locked(mono_ns(), join, &njoin);
	pthread_mutex_unlock(&lock);
	for (unsigned i = 0; i < njoin; i++)
		pthread_join(join[i], NULL);
}

int inject_start(const struct inject_request *req, struct inject_info *out, struct inject_refusal *why)
{
	int cpus[INJECT_CPUS_MAX];
	unsigned ncpus = 0;
	struct injection *inj = NULL;
	int ret;

	memset(why, 0, sizeof(*why));
	if ((unsigned)req->kind >= INJECT_KINDS)
		return refuse(why, -EINVAL, "use one of cpuHog, memoryPressure, ioWqPunt, bufferStarvation, "
					    "serverPause, softirqLoad", "kind %d is not an injection", (int)req->kind);
	if (req->duration_ms < 1 || req->duration_ms > INJECT_DURATION_MAX_MS)
		return refuse(why, -EINVAL, "give durationMs between 1 and 60000", "%s: durationMs %u is out of range",
			      inject_kind_name(req->kind), req->duration_ms);
	if (!is_toggle(req->kind)) {
		ret = resolve_cpus(req, cpus, &ncpus, why);
		if (ret)
			return ret;
	}
	collect();
	/* The slot is claimed under the lock, filled without it: only this (JS) thread starts
	 * injections, and the reaper it starts sees a complete slot (pthread_create orders it). */
	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < INJECT_ACTIVE_MAX && !inj; i++)
		if (!slots[i].used)
			inj = &slots[i];
	if (inj) {
		memset(inj, 0, sizeof(*inj));
		inj->used = 1;
		inj->has_reaper = 0;
		inj->info.id = next_id++;
		inj->info.kind = req->kind;
		inj->info.deadline_ns = mono_ns() + (uint64_t)req->duration_ms * NS_PER_MS;
	}
	pthread_mutex_unlock(&lock);
	if (!inj)
		return refuse(why, -EBUSY, "wait for some to end, or call injectStopAll()",
			      "%s: %d injections are already active", inject_kind_name(req->kind), INJECT_ACTIVE_MAX);

	ret = is_toggle(req->kind) ? start_toggle(inj, why) : start_children(inj, cpus, ncpus, why);
	pthread_mutex_lock(&lock);
	if (ret)
		memset(inj, 0, sizeof(*inj));
	else
		*out = inj->info;
	pthread_mutex_unlock(&lock);
	return ret;
}

void inject_stop_all(void)
{
	pthread_t join[INJECT_ACTIVE_MAX];
	unsigned njoin = 0;
	int toggles[INJECT_KINDS] = { 0 };

	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < INJECT_ACTIVE_MAX; i++) {
		struct injection *inj = &slots[i];
		if (!inj->used)
			continue;
		if (inj->has_reaper) {
			kill_children_locked(inj);
			join[njoin++] = inj->reaper;
		} else {
			toggles[inj->info.kind] = 1;
		}
	}
	pthread_mutex_unlock(&lock);
	/* The reapers return once every child is reaped and the cgroup removed. */
	for (unsigned i = 0; i < njoin; i++)
		pthread_join(join[i], NULL);
	for (int k = 0; k < INJECT_KINDS; k++)
		if (toggles[k])
			engine_set_toggle(toggle_of((enum inject_kind)k), 0);
	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < INJECT_ACTIVE_MAX; i++)
		if (slots[i].used)
			memset(&slots[i], 0, sizeof(slots[i]));
	pthread_mutex_unlock(&lock);
}

unsigned inject_active(struct inject_info *out, unsigned max)
{
	unsigned n = 0;

	collect();
	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < INJECT_ACTIVE_MAX && n < max; i++) {
		struct injection *inj = &slots[i];
		if (!inj->used)
			continue;
		out[n] = inj->info;
		/* Only the children still running. */
		out[n].npids = 0;
		for (unsigned j = 0; j < inj->info.npids; j++)
			if (!inj->reaped[j])
				out[n].pids[out[n].npids++] = inj->info.pids[j];
		n++;
	}
	pthread_mutex_unlock(&lock);
	return n;
}
