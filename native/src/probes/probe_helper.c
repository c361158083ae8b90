/*
 * uring-lab-probe-helper: the only part of the lab that needs CAP_BPF + CAP_PERFMON (plus
 * CAP_SYS_ADMIN for BPF run-time stats, optional). The engine starts it with the tgid to watch
 * and one end of a socketpair on fd 3; it loads and attaches the probes, sends every fd
 * (probe_transport.c) and exits. It keeps nothing: the engine's fds hold the programs.
 *
 *   uring-lab-probe-helper --tgid PID --probes MASK --socket-fd FD [--perfbuf] [--syscall-enters]
 *                          [--offcpu-min-us N] [--profile-hz N]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "probe_loader.h"
#include "probe_transport.h"

static void usage(const char *why)
{
	fprintf(stderr, "%s: %s\nusage: %s --tgid PID --probes MASK --socket-fd FD [--perfbuf] [--syscall-enters] [--offcpu-min-us N] [--profile-hz N]\n", PROBE_HELPER_NAME,
		why, PROBE_HELPER_NAME);
	exit(2);
}

static long number(const char *s, long max, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || !*s || *end || v < 0 || v > max)
		usage(what);
	return v;
}

int main(int argc, char **argv)
{
	struct probe_load_options o = { .tgid = -1, .mask = 0, .force_perfbuf = 0, .syscall_enters = 0,
					.offcpu_min_us = PROBE_DEFAULT_OFFCPU_MIN_US, .profile_hz = PROBE_DEFAULT_PROFILE_HZ };
	struct probe_set set;
	int sock = -1, type = 0, err, i;
	socklen_t len = sizeof(type);

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--tgid") && i + 1 < argc)
			o.tgid = (int)number(argv[++i], 0x3fffffff, "--tgid: a process id");
		else if (!strcmp(argv[i], "--probes") && i + 1 < argc)
			o.mask = (unsigned)number(argv[++i], PROBE_ALL_MASK, "--probes: a bit mask of probes");
		else if (!strcmp(argv[i], "--socket-fd") && i + 1 < argc)
			sock = (int)number(argv[++i], 1 << 20, "--socket-fd: the inherited socket's fd");
		else if (!strcmp(argv[i], "--perfbuf"))
			o.force_perfbuf = 1;
		else if (!strcmp(argv[i], "--syscall-enters"))
			o.syscall_enters = 1;
		else if (!strcmp(argv[i], "--offcpu-min-us") && i + 1 < argc)
			o.offcpu_min_us = (unsigned)number(argv[++i], 60000000, "--offcpu-min-us: microseconds");
		else if (!strcmp(argv[i], "--profile-hz") && i + 1 < argc)
			o.profile_hz = (unsigned)number(argv[++i], PROBE_MAX_PROFILE_HZ, "--profile-hz: samples per second");
		else
			usage("unknown argument");
	}
	if (o.tgid < 0 || sock < 0)
		usage("--tgid and --socket-fd are required");
	/* The capabilities are the helper's, not its caller's: watch only the caller's own
	 * processes (root: any), so it cannot be used to watch another user's threads. tgid 0 is
	 * the doctor's check, which watches nothing. */
	if (o.tgid != 0) {
		char proc[32];
		struct stat st;

		snprintf(proc, sizeof(proc), "/proc/%d", o.tgid);
		if (stat(proc, &st))
			usage("--tgid: no such process");
		if (getuid() != 0 && st.st_uid != getuid())
			usage("--tgid: not a process of the calling user");
	}
		/* Only a Unix SOCK_SEQPACKET socket: never write the set to a file or terminal by mistake. */
	if (getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &len) || type != SOCK_SEQPACKET)
		usage("--socket-fd is not a SOCK_SEQPACKET socket");

	probe_load(&o, &set);
	set.loaded_by = PROBE_LOADED_HELPER;
	err = probe_set_send(sock, &set);
	probe_set_close(&set);
	if (err) {
		fprintf(stderr, "%s: sending the probes: %s\n", PROBE_HELPER_NAME, strerror(-err));
		return 1;
	}
	return 0;
}
