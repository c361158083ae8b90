/*
 * softirqLoad's child: on its CPU, blasts small UDP datagrams at a loopback socket with a tiny
 * receive buffer that nobody reads. Loopback transmit queues each datagram to this CPU's
 * backlog and raises NET_RX; the softirq runs on this CPU (on the way out of the send, or in
 * ksoftirqd) and mostly drops what it delivers (the buffer is full), so the cost is pure
 * softirq time on the engine's CPU, without growing memory.
 */
#include "inject/inject_child.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SOFTIRQ_BATCH 64
#define SOFTIRQ_DATAGRAM_BYTES 16

void softirq_load_child(const struct inject_child *c)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	struct mmsghdr msgs[SOFTIRQ_BATCH];
	struct iovec iov = { 0 };
	char payload[SOFTIRQ_DATAGRAM_BYTES];
	int tiny = 1; /* the kernel rounds it up to its minimum (a few KiB) */
	int rx, tx;

	inject_child_prologue(c);
	rx = socket(AF_INET, SOCK_DGRAM, 0);
	tx = socket(AF_INET, SOCK_DGRAM, 0);
	if (rx < 0 || tx < 0 || setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &tiny, sizeof(tiny)) ||
	    bind(rx, (struct sockaddr *)&addr, sizeof(addr)) || getsockname(rx, (struct sockaddr *)&addr, &len) ||
	    connect(tx, (struct sockaddr *)&addr, sizeof(addr)))
		_exit(CHILD_SOCKET);
	inject_child_ready(c);
	memset(payload, 'x', sizeof(payload));
	iov.iov_base = payload;
	iov.iov_len = sizeof(payload);
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < SOFTIRQ_BATCH; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	while (inject_child_now_ns() < c->deadline_ns) {
		/* Errors (ENOBUFS under pressure) only mean this batch went nowhere: go on. */
		(void)sendmmsg(tx, msgs, SOFTIRQ_BATCH, 0);
	}
	_exit(CHILD_OK);
}
