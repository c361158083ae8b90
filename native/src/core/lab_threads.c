#define _GNU_SOURCE
#include "core/lab_threads.h"

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Set while this process's threads run SCHED_BATCH as lab threads; a forked child sees it. */
static volatile int batch_applied;

static int skipped(const char *comm, const char *const *skip, int nskip)
{
	for (int i = 0; i < nskip; i++)
		if (strncmp(comm, skip[i], strlen(skip[i])) == 0)
			return 1;
	return 0;
}

int lab_threads_each(int pid, const char *const *skip, int nskip, int (*fn)(pid_t tid, void *arg), void *arg)
{
	char dir[64], path[64 + 256 + 8], comm[32];
	struct dirent *e;
	int ret = 0;
	DIR *d;

	if (pid > 0)
		snprintf(dir, sizeof(dir), "/proc/%d/task", pid);
	else
		snprintf(dir, sizeof(dir), "/proc/self/task");
	d = opendir(dir);
	if (!d)
		return -errno;
	while (ret >= 0 && (e = readdir(d))) {
		FILE *f;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "%s/%s/comm", dir, e->d_name);
		if (!(f = fopen(path, "re")))
			continue; /* ended meanwhile */
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = 0;
		fclose(f);
		if (!skipped(comm, skip, nskip))
			ret = fn((pid_t)atoi(e->d_name), arg);
	}
	closedir(d);
	return ret < 0 ? ret : 0;
}

struct set_batch {
	int from, to, changed, err;
};

static int set_batch_one(pid_t tid, void *arg)
{
	struct set_batch *b = arg;
	struct sched_param zero = { 0 };
	/* sched_getscheduler/sched_setscheduler act on the one thread `tid`. */
	int policy = sched_getscheduler(tid);

	if (policy < 0) {
		if (errno != ESRCH)
			b->err = -errno;
		return 0;
	}
	if ((policy & ~SCHED_RESET_ON_FORK) != b->from)
		return 0;
	if (sched_setscheduler(tid, b->to | (policy & SCHED_RESET_ON_FORK), &zero) == 0)
		b->changed++;
	else if (errno != ESRCH)
		b->err = -errno;
	return 0;
}

int lab_threads_set_batch(int pid, int batch, const char *const *skip, int nskip)
{
	struct set_batch b = { batch ? SCHED_OTHER : SCHED_BATCH, batch ? SCHED_BATCH : SCHED_OTHER, 0, 0 };
	int ret = lab_threads_each(pid, skip, nskip, set_batch_one, &b);

	if (ret < 0)
		return ret;
	if (pid <= 0)
		batch_applied = batch;
	return b.err && !b.changed ? b.err : b.changed;
}

void lab_threads_child_policy(void)
{
	struct sched_param zero = { 0 };

	if (batch_applied && (sched_getscheduler(0) & ~SCHED_RESET_ON_FORK) == SCHED_BATCH)
		sched_setscheduler(0, SCHED_OTHER, &zero);
}

/* sched(7)'s struct sched_attr, first version (48 bytes): glibc before 2.41 has no wrapper. */
struct lab_sched_attr {
	uint32_t size;
	uint32_t sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime;
	uint64_t sched_deadline;
	uint64_t sched_period;
};
#define LAB_SCHED_FLAG_RESET_ON_FORK 0x01

int lab_thread_short_slice(void)
{
	struct lab_sched_attr attr = { .size = sizeof(attr) }, now = { 0 };
	pid_t tid = (pid_t)syscall(SYS_gettid);
	int policy = sched_getscheduler(0), fair, nice;

	if (policy < 0)
		return -errno;
	fair = policy & ~SCHED_RESET_ON_FORK;
	if (fair != SCHED_OTHER && fair != SCHED_BATCH)
		return 0;
	/* sched_setattr sets the nice value too: keep this thread's (getpriority on a tid is the
	 * thread's own on Linux). */
	errno = 0;
	nice = getpriority(PRIO_PROCESS, (id_t)tid);
	if (nice == -1 && errno)
		return -errno;
	attr.sched_policy = (uint32_t)fair;
	attr.sched_flags = (policy & SCHED_RESET_ON_FORK) ? LAB_SCHED_FLAG_RESET_ON_FORK : 0;
	attr.sched_nice = nice;
	attr.sched_runtime = LAB_MEASURED_SLICE_NS;
	if (syscall(SYS_sched_setattr, 0, &attr, 0))
		return -errno;
	/* Kernels before 6.12 take the call and ignore sched_runtime for a fair policy. */
	if (syscall(SYS_sched_getattr, 0, &now, sizeof(now), 0))
		return -errno;
	return now.sched_runtime == LAB_MEASURED_SLICE_NS;
}
