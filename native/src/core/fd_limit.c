/* RLIMIT_NOFILE check before a start; see fd_limit.h. */
#include "core/fd_limit.h"

#include <dirent.h>
#include <errno.h>
#include <sys/resource.h>

/* Descriptors beyond one per load socket and one per accepted socket. */
#define FD_SLACK_SERVER 5 /* per server worker: eventfd, ring, listener, the multishot probe's socketpair */
#define FD_SLACK_LOAD 2   /* per load thread: eventfd, ring */
#define FD_MARGIN 16      /* what the host opens while we run */

/* Open descriptors, /proc/self/fd minus the one reading it. */
static uint64_t count_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	uint64_t n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] >= '0' && de->d_name[0] <= '9')
			n++;
	closedir(d);
	return n ? n - 1 : 0;
}

static uint64_t limit_value(rlim_t v)
{
	return v == RLIM_INFINITY ? UINT64_MAX : (uint64_t)v;
}

int fd_limit_ensure(unsigned connections, unsigned nload, unsigned nservers, unsigned reserve, struct engine_error *err)
{
	struct rlimit rl;
	uint64_t open = count_open_fds();
	uint64_t need = open + 2ull * connections + FD_SLACK_SERVER * (uint64_t)nservers + FD_SLACK_LOAD * (uint64_t)nload + FD_MARGIN + reserve;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 0; /* cannot tell: let the sockets speak for themselves */
	if (need <= rl.rlim_cur)
		return 0;
	if (rl.rlim_max == RLIM_INFINITY || need <= rl.rlim_max) {
		struct rlimit want = rl;
		want.rlim_cur = rl.rlim_max == RLIM_INFINITY ? need : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			return 0;
		/* The hard limit may exceed fs.nr_open: ask for just enough. */
		want.rlim_cur = need;
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			return 0;
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	err->at = (struct start_error){ STEP_FD_LIMIT, -EMFILE };
	err->fds_needed = need;
	err->fds_open = open;
	err->fds_reserve = reserve;
	err->fds_soft = limit_value(rl.rlim_cur);
	err->fds_hard = limit_value(rl.rlim_max);
	return -EMFILE;
}
