/* CPU time of our threads, the io_uring kernel helpers and the process. */
#define _GNU_SOURCE
#include "core/cpu_accounting.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"

uint64_t cpu_self_thread_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return timespec_ns(&ts);
}

int cpu_thread_ns(pthread_t thread, uint64_t *ns)
{
	clockid_t cid;
	struct timespec ts;
	int ret = pthread_getcpuclockid(thread, &cid);
	if (ret)
		return -ret;
	if (clock_gettime(cid, &ts))
		return -errno;
	*ns = timespec_ns(&ts);
	return 0;
}

/*
 * The kernel's thread CPU clock id for a tid, as glibc's
 * pthread_getcpuclockid builds it: ((~tid) << 3) | CPUCLOCK_PERTHREAD_MASK
 * (4) | CPUCLOCK_SCHED (2). Valid for any thread of this process, the
 * kernel's io_uring threads included; read exactly like our own threads.
 */
int cpu_tid_ns(pid_t tid, uint64_t *ns)
{
	clockid_t cid = (clockid_t)((~(unsigned)tid << 3) | 6);
	struct timespec ts;

	if (clock_gettime(cid, &ts))
		return -errno;
	*ns = timespec_ns(&ts);
	return 0;
}

uint64_t cpu_process_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return timespec_ns(&ts);
}

/* Reads a small /proc file into buf (NUL-terminated); returns length or -errno. */
static int read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, size - 1);
	int err = errno;
	close(fd);
	if (n < 0)
		return -err;
	buf[n] = '\0';
	return (int)n;
}

void cpu_helpers_init(struct cpu_helpers *h)
{
	memset(h, 0, sizeof(*h));
}

enum helper_owner { OWNER_NONE, OWNER_SERVER, OWNER_LOAD };

struct helper {
	pid_t tid;
	pid_t creator; /* the <tid> in iou-sqp-<tid> / iou-wrk-<tid> */
	int sqpoll;
	uint64_t ns;
};

static void charge(struct cpu_helpers *h, enum helper_owner owner, int load_idx, int sqpoll, uint64_t d)
{
	if (owner == OWNER_SERVER) {
		h->server_ns += d;
		if (sqpoll)
			h->server_sqpoll_ns += d;
	} else {
		h->load_ns += d;
		h->load_ns_by[load_idx] += d;
	}
}

static void account(struct cpu_helpers *h, pid_t tid, uint64_t ns, enum helper_owner owner, int load_idx,
		    int sqpoll)
{
	for (int i = 0; i < h->nslots; i++) {
		if (h->slot[i].tid != tid)
			continue;
		uint64_t d = ns > h->slot[i].last_ns ? ns - h->slot[i].last_ns : 0;
		h->slot[i].last_ns = ns;
		h->slot[i].seen = 1;
		charge(h, owner, load_idx, sqpoll, d);
		return;
	}
	if (h->nslots == CPU_HELPERS_MAX)
		return; /* absurdly many helpers: the excess goes unaccounted */
	h->slot[h->nslots].tid = tid;
	h->slot[h->nslots].last_ns = ns;
	h->slot[h->nslots].seen = 1;
	h->nslots++;
	/* First sighting: everything it used so far is new to us. */
	charge(h, owner, load_idx, sqpoll, ns);
}

static int is_server(pid_t tid, const pid_t *server_tids, int nserver)
{
	for (int i = 0; i < nserver; i++)
		if (server_tids[i] == tid && tid > 0)
			return 1;
	return 0;
}

/* The name entry of `tid`, added (kind unknown) on first sight; -1 when the table is full. */
static int name_entry(struct cpu_helpers *h, pid_t tid)
{
	for (int i = 0; i < h->nnames; i++)
		if (h->name[i].tid == tid)
			return i;
	if (h->nnames == CPU_HELPERS_MAX)
		return -1;
	h->name[h->nnames].tid = tid;
	h->name[h->nnames].kind = -1;
	h->name[h->nnames].other_names = 0;
	h->name[h->nnames].creator = 0;
	return h->nnames++;
}

/* Helper kind (1 SQPOLL, 2 io-wq) and creator of thread `tid` from its name, read only while it
 * is not known; 0 for another thread, -1 when it is gone. */
static int helper_kind(struct cpu_helpers *h, pid_t tid, pid_t *creator)
{
	char path[64], buf[128];
	int e = name_entry(h, tid);

	if (e >= 0) {
		h->name[e].seen = 1;
		if (h->name[e].kind > 0 || (h->name[e].kind == 0 && h->name[e].other_names >= 2)) {
			*creator = h->name[e].creator;
			return h->name[e].kind;
		}
	}
	snprintf(path, sizeof(path), "/proc/self/task/%d/comm", tid);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return -1;
	int kind = !strncmp(buf, "iou-sqp-", 8) ? 1 : !strncmp(buf, "iou-wrk-", 8) ? 2 : 0;
	*creator = kind ? (pid_t)atoi(buf + 8) : 0;
	if (e >= 0) {
		h->name[e].kind = (signed char)kind;
		h->name[e].creator = *creator;
		if (!kind && h->name[e].other_names < 2)
			h->name[e].other_names++;
	}
	return kind;
}

void cpu_helpers_scan(struct cpu_helpers *h, const pid_t *server_tids, int nserver, const pid_t *load_tids,
		      int nload)
{
	struct helper found[CPU_HELPERS_MAX];
	int nfound = 0;
	char path[64], buf[128];

	DIR *d = opendir("/proc/self/task");
	if (!d)
		return;
	struct dirent *de;
	for (int i = 0; i < h->nnames; i++)
		h->name[i].seen = 0;
	while ((de = readdir(d)) != NULL && nfound < CPU_HELPERS_MAX) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		pid_t tid = (pid_t)atoi(de->d_name), creator;
		int kind = helper_kind(h, tid, &creator);
		if (kind <= 0)
			continue;
		int sqpoll = kind == 1;
		uint64_t ns;
		if (cpu_tid_ns(tid, &ns)) {
			snprintf(path, sizeof(path), "/proc/self/task/%d/schedstat", tid);
			if (read_small(path, buf, sizeof(buf)) <= 0)
				continue; /* exited between readdir and now */
			ns = strtoull(buf, NULL, 10);
		}
		found[nfound].tid = tid;
		found[nfound].creator = creator;
		found[nfound].sqpoll = sqpoll;
		found[nfound].ns = ns;
		nfound++;
	}
	closedir(d);
	/* Forget threads that are gone, so a recycled tid has its name read again. */
	int kept = 0;
	for (int i = 0; i < h->nnames; i++)
		if (h->name[i].seen)
			h->name[kept++] = h->name[i];
	h->nnames = kept;

	for (int i = 0; i < h->nslots; i++)
		h->slot[i].seen = 0;

	if (nload > CPU_LOAD_THREADS_MAX)
		nload = CPU_LOAD_THREADS_MAX;
	for (int i = 0; i < nfound; i++) {
		pid_t c = found[i].creator;
		enum helper_owner owner = OWNER_NONE;
		int load_idx = 0;
		if (is_server(c, server_tids, nserver)) {
			owner = OWNER_SERVER;
		} else {
			for (int j = 0; j < nload; j++) {
				if (load_tids[j] == c && c > 0) {
					owner = OWNER_LOAD;
					load_idx = j;
				}
			}
			/* With SQPOLL the io-wq workers are created by the SQPOLL
			 * thread, so an iou-wrk-<sqp tid> belongs to whoever owns
			 * that SQPOLL thread. */
			for (int j = 0; owner == OWNER_NONE && j < nfound; j++)
				if (found[j].sqpoll && found[j].tid == c && is_server(found[j].creator, server_tids, nserver))
					owner = OWNER_SERVER;
		}
		if (owner != OWNER_NONE)
			account(h, found[i].tid, found[i].ns, owner, load_idx, found[i].sqpoll);
	}

	/* Forget helpers that are gone (their time is already in the totals),
	 * so a recycled tid starts from zero. */
	int w = 0;
	for (int i = 0; i < h->nslots; i++)
		if (h->slot[i].seen)
			h->slot[w++] = h->slot[i];
	h->nslots = w;
}

int cpu_tid_user_sys_ns(pid_t tid, uint64_t *user_ns, uint64_t *sys_ns)
{
	char path[64], buf[1024];
	unsigned long long ut, st;
	int n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	n = read_small(path, buf, sizeof(buf));
	if (n < 0)
		return n;
	/* The name (field 2) may hold spaces and parentheses: fields resume after the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		return -EIO;
	/* Fields 3..13 (state ... cmajflt), then 14 utime and 15 stime. */
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -EIO;
	long hz = sysconf(_SC_CLK_TCK);
	if (hz <= 0)
		hz = 100;
	*user_ns = ut * (NS_PER_SEC / (uint64_t)hz);
	*sys_ns = st * (NS_PER_SEC / (uint64_t)hz);
	return 0;
}
