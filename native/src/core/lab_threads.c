#define _GNU_SOURCE
#include "core/lab_threads.h"

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Set while this process's threads run SCHED_BATCH as lab threads; a forked child sees it. */
static volatile int batch_applied;

static int skipped(const char *comm, const char *const *skip, int nskip)
{
	for (int i = 0; i < nskip; i++)
		if (strncmp(comm, skip[i], strlen(skip[i])) == 0)
			return 1;
	return 0;
}

int lab_threads_set_batch(int pid, int batch, const char *const *skip, int nskip)
{
	char dir[64], path[128], comm[32];
	struct sched_param zero = { 0 };
	int from = batch ? SCHED_OTHER : SCHED_BATCH, to = batch ? SCHED_BATCH : SCHED_OTHER;
	int changed = 0, err = 0;
	struct dirent *e;
	DIR *d;

	if (pid > 0)
		snprintf(dir, sizeof(dir), "/proc/%d/task", pid);
	else
		snprintf(dir, sizeof(dir), "/proc/self/task");
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		pid_t tid;
		FILE *f;
		int policy;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		tid = (pid_t)atoi(e->d_name);
		snprintf(path, sizeof(path), "%s/%s/comm", dir, e->d_name);
		if (!(f = fopen(path, "re")))
			continue;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = 0;
		fclose(f);
		if (skipped(comm, skip, nskip))
			continue;
		/* sched_getscheduler/sched_setscheduler act on the one thread `tid`. */
		policy = sched_getscheduler(tid);
		if (policy < 0) {
			if (errno != ESRCH)
				err = -errno;
			continue;
		}
		if ((policy & ~SCHED_RESET_ON_FORK) != from)
			continue;
		if (sched_setscheduler(tid, to | (policy & SCHED_RESET_ON_FORK), &zero) == 0)
			changed++;
		else if (errno != ESRCH)
			err = -errno;
	}
	closedir(d);
	if (pid <= 0)
		batch_applied = batch;
	return err && !changed ? err : changed;
}

void lab_threads_child_policy(void)
{
	struct sched_param zero = { 0 };

	if (batch_applied && (sched_getscheduler(0) & ~SCHED_RESET_ON_FORK) == SCHED_BATCH)
		sched_setscheduler(0, SCHED_OTHER, &zero);
}
