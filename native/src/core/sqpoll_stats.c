/* The SQPOLL thread's work time from the ring's fdinfo (see sqpoll_stats.h). */
#define _GNU_SOURCE
#include "core/sqpoll_stats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct scan {
	long thread; /* 0: no SqThread line yet */
	int have_work, have_total, done;
	struct sqpoll_stats *out;
};

/* One whole line of the fdinfo text. */
static void scan_line(struct scan *s, const char *line)
{
	if (!strncmp(line, "SqThread:", 9)) {
		s->thread = strtol(line + 9, NULL, 10);
	} else if (!strncmp(line, "SqTotalTime:", 12)) {
		s->out->total_us = strtoull(line + 12, NULL, 10);
		s->have_total = 1;
	} else if (!strncmp(line, "SqWorkTime:", 11)) {
		s->out->work_us = strtoull(line + 11, NULL, 10);
		s->have_work = 1;
	} else if (!strncmp(line, "UserFiles:", 10)) {
		s->done = 1; /* what follows is the file and buffer tables */
	}
}

/*
 * The SQPOLL lines follow the SQ and CQ listings, which hold every entry pending at the time
 * (up to the ring sizes): read chunk by chunk, line by line, until the SQPOLL section is
 * over or the text ends.
 */
int sqpoll_stats_read(int ring_fd, struct sqpoll_stats *out)
{
	char path[64], buf[8192];
	struct scan s = { .out = out };
	size_t have = 0;
	int err = 0, fd;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", ring_fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (!s.done) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n < 0) {
			err = -errno;
			break;
		}
		if (n == 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		char *line = buf;
		for (char *nl; !s.done && (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
			*nl = '\0';
			scan_line(&s, line);
		}
		/* Keep the unfinished last line; one longer than the buffer is none we look for. */
		have = s.done ? 0 : have - (size_t)(line - buf);
		if (have == sizeof(buf) - 1)
			have = 0;
		memmove(buf, line, have);
	}
	close(fd);
	if (err)
		return err;
	/* No SqThread line (the lock was busy), or -1 (the thread was going away). */
	if (s.thread <= 0)
		return -EAGAIN;
	if (!s.have_work || !s.have_total)
		return -ENODATA;
	out->thread = (pid_t)s.thread;
	return 0;
}
