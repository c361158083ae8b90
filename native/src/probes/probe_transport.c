// The probe helper's hand-over: see probe_transport.h.
#define _GNU_SOURCE
#include "probe_transport.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

extern char **environ;

#define HELPER_TIMEOUT_MS 20000
#define MAX_SENT_FDS (PROBE_MAX_FDS + 1)

int probe_set_send(int sock, const struct probe_set *s)
{
	char control[CMSG_SPACE(sizeof(int) * MAX_SENT_FDS)];
	struct iovec iov = { .iov_base = (void *)s, .iov_len = sizeof(*s) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fds[MAX_SENT_FDS], n = 0, i;

	for (i = 0; i < s->nfds; i++)
		fds[n++] = s->fds[i].fd;
	if (s->stats_fd >= 0)
		fds[n++] = s->stats_fd;
	if (n) {
		struct cmsghdr *c;

		memset(control, 0, sizeof(control));
		msg.msg_control = control;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL) == (ssize_t)sizeof(*s) ? 0 : -(errno ? errno : EIO);
}

int probe_set_recv(int sock, struct probe_set *s)
{
	char control[CMSG_SPACE(sizeof(int) * MAX_SENT_FDS)];
	struct iovec iov = { .iov_base = s, .iov_len = sizeof(*s) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			      .msg_controllen = sizeof(control) };
	int fds[MAX_SENT_FDS], n = 0, want, i;
	struct cmsghdr *c;
	ssize_t got;

	got = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	if (got < 0)
		return -errno;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));

			memcpy(fds + n, CMSG_DATA(c), sizeof(int) * (size_t)k);
			n += k;
		}
	}
	want = (got == (ssize_t)sizeof(*s) && s->nfds >= 0 && s->nfds <= PROBE_MAX_FDS) ? s->nfds + (s->stats_fd >= 0) : -1;
	for (i = 0; want >= 0 && i < s->nfds; i++)
		if (s->fds[i].probe >= PROBE_COUNT) /* an index into probe_names later */
			want = -1;
	if (want != n || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		for (i = 0; i < n; i++)
			close(fds[i]);
		memset(s, 0, sizeof(*s));
		s->stats_fd = -1;
		return -EPROTO;
	}
	for (i = 0; i < s->nfds; i++) {
		s->fds[i].fd = fds[i];
		s->fds[i].name[sizeof(s->fds[i].name) - 1] = 0;
	}
	if (s->stats_fd >= 0)
		s->stats_fd = fds[s->nfds];
	/* Every string is used as one: terminate them whatever arrived. */
	for (i = 0; i < PROBE_COUNT; i++) {
		s->status[i].variant[sizeof(s->status[i].variant) - 1] = 0;
		s->status[i].reason[PROBE_TEXT - 1] = 0;
		s->status[i].fix[PROBE_TEXT - 1] = 0;
	}
	s->stats_reason[PROBE_TEXT - 1] = 0;
	return 0;
}

int probe_helper_has_caps(const char *path, char *why, size_t size)
{
	struct vfs_ns_cap_data caps;
	ssize_t n;
	__u32 permitted_hi;

	memset(&caps, 0, sizeof(caps));
	n = getxattr(path, "security.capability", &caps, sizeof(caps));
	if (n < 0) {
		snprintf(why, size, errno == ENODATA ? "%s has no file capabilities" : "%s: %s", path, strerror(errno));
		return 0;
	}
	if (n < (ssize_t)XATTR_CAPS_SZ_2) {
		snprintf(why, size, "%s has old-style (v1) file capabilities without CAP_BPF", path);
		return 0;
	}
	permitted_hi = caps.data[1].permitted;
	if (!(permitted_hi & (1u << (CAP_BPF - 32))) || !(permitted_hi & (1u << (CAP_PERFMON - 32)))) {
		snprintf(why, size, "%s lacks cap_bpf and cap_perfmon in its file capabilities", path);
		return 0;
	}
	if (!(caps.magic_etc & VFS_CAP_FLAGS_EFFECTIVE)) {
		snprintf(why, size, "%s has the capabilities without +e (effective)", path);
		return 0;
	}
	return 1;
}

int probe_helper_run(const char *path, const struct probe_load_options *o, struct probe_set *out, char *why,
		     size_t size)
{
	char tgid_arg[32], mask_arg[32], offcpu_arg[32], hz_arg[32];
	char *argv[14] = { (char *)path, "--tgid", tgid_arg, "--probes", mask_arg, "--socket-fd", "3",
			   "--offcpu-min-us", offcpu_arg, "--profile-hz", hz_arg };
	int argc = 11;
	posix_spawn_file_actions_t fa;
	struct pollfd pfd;
	int sv[2], errpipe[2], err, status;
	char said[PROBE_TEXT] = "";
	pid_t pid;

	memset(out, 0, sizeof(*out));
	out->stats_fd = -1;
	if (o->force_perfbuf)
		argv[argc++] = "--perfbuf";
	if (o->syscall_enters)
		argv[argc++] = "--syscall-enters";
	argv[argc] = NULL;
	snprintf(tgid_arg, sizeof(tgid_arg), "%d", o->tgid);
	snprintf(mask_arg, sizeof(mask_arg), "%u", o->mask);
	snprintf(offcpu_arg, sizeof(offcpu_arg), "%u", o->offcpu_min_us);
	snprintf(hz_arg, sizeof(hz_arg), "%u", o->profile_hz);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		err = -errno;
		snprintf(why, size, "socketpair: %s", strerror(errno));
		return err;
	}
	/* The helper's stderr comes back to us: its one line is the reason when it fails. */
	if (pipe2(errpipe, O_CLOEXEC | O_NONBLOCK)) {
		err = -errno;
		close(sv[0]);
		close(sv[1]);
		snprintf(why, size, "pipe: %s", strerror(-err));
		return err;
	}
	posix_spawn_file_actions_init(&fa);
	/* dup2 onto 3 and 2 clears close-on-exec for the helper's ends only. */
	posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
	posix_spawn_file_actions_adddup2(&fa, errpipe[1], 2);
	err = posix_spawn(&pid, path, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(sv[1]);
	close(errpipe[1]);
	if (err) {
		close(sv[0]);
		close(errpipe[0]);
		snprintf(why, size, "could not start %s: %s", path, strerror(err));
		return -err;
	}
	pfd.fd = sv[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, HELPER_TIMEOUT_MS) != 1) {
		kill(pid, SIGKILL);
		err = -ETIMEDOUT;
		snprintf(why, size, "%s sent nothing within %d s", path, HELPER_TIMEOUT_MS / 1000);
	} else {
		err = probe_set_recv(sv[0], out);
		if (err)
			snprintf(why, size, "%s exited without sending the probes (%s)", path, strerror(-err));
	}
	close(sv[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	{
		ssize_t n = read(errpipe[0], said, sizeof(said) - 1);
		char *nl;

		said[n > 0 ? n : 0] = 0;
		if ((nl = strchr(said, '\n')))
			*nl = 0;
	}
	close(errpipe[0]);
	if (err && said[0])
		snprintf(why, size, "%s", said);
	if (!err && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		/* It sent something, then failed: trust nothing it sent. */
		probe_set_close(out);
		err = -EPROTO;
		snprintf(why, size, "%s failed after sending (status %d)", path, status);
	}
	if (!err)
		out->loaded_by = PROBE_LOADED_HELPER;
	return err;
}
