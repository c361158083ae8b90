/*
 * TCP segments the server's connections sent and received, from the kernel's own per-socket
 * counters (tcp_info.tcpi_segs_out / tcpi_segs_in: every segment, data, pure ACKs, SYN-ACK,
 * FIN and retransmits alike), read through sock_diag (NETLINK_SOCK_DIAG, the interface `ss -ti`
 * uses) off the serving threads: by the engine's snapshots once a second and at the end (a dump
 * walks the kernel's whole established-socket hash, 262,144 buckets here: ~1.3 ms).
 *
 * Why: segments per request is the number that shows how the send path meets TCP. An echo
 * whose reply leaves as one send is one segment up to the MSS; a reply split into two sends
 * (the 4 KiB echo of issue 7's "today" server) is two segments, two ACKs and two wake-ups of
 * the peer. Counting our own send() calls cannot show that; only the kernel knows the segments.
 *
 * Which sockets: TCP over IPv4 whose local port is the server's (every worker listens on the
 * one port), in the server's network namespace (the netlink socket is opened by worker 0 on its
 * own thread, after it has joined the veth namespace and listens). Sockets already on that port
 * when the server started (a previous server's closing connections) count only what they do
 * from then on. Each socket is told apart by its kernel cookie; a socket seen for the first
 * time counts from its first segment (its SYN-ACK). A connection that is gone by the next read
 * is counted to its end from the kernel's word on it (SKNLGRP_INET_TCP_DESTROY, which carries
 * the socket's last tcp_info; any user may join it, and a socket filter keeps only the words
 * on our port, so other programs' connections cannot crowd them out of its buffer); where
 * joining fails, such a connection loses what it did since the last read: understated, never
 * overstated. TIME_WAIT
 * sockets carry no counters and are not read.
 */
#ifndef URING_LAB_CORE_TCP_SEGMENTS_H
#define URING_LAB_CORE_TCP_SEGMENTS_H

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One socket's counters at the last read. */
struct tcp_segments_sock {
	uint64_t cookie;
	uint32_t segs_out, segs_in, data_out, data_in;
	int dead; /* the kernel's word on its end came: counted to the end */
};

/* A socket the dumps lost, waiting for the kernel's word on its end. */
struct tcp_segments_departed {
	struct tcp_segments_sock sock;
	uint64_t gone_ns;
};

/* Totals: every segment, and those that carried data (tcpi_data_segs_*; the rest are pure ACKs,
 * the handshake's and FINs without data, window updates). */
struct tcp_segment_counts {
	uint64_t out, in, data_out, data_in;
	/* Times the kernel's words on closed sockets overran the socket's buffer (ENOBUFS): some of
	 * our connections' last segments were then never told, and the counts since the read before
	 * fall short by an unknown amount. Cumulative, like the rest. */
	uint64_t words_lost;
};

struct tcp_segments {
	pthread_mutex_t lock;
	int fd;        /* the NETLINK_SOCK_DIAG socket; -1 before open and after close */
	int destroy_fd; /* the same, joined to SKNLGRP_INET_TCP_DESTROY; -1: not joined (destroy_err) */
	int destroy_err;
	int err;       /* 0, or the -errno that makes the counts unknown (not opened yet, no sock_diag for TCP) */
	uint16_t port; /* the server's port, host order */
	uint32_t seq;
	struct tcp_segment_counts total; /* since open */
	/* The sockets of the last read, sorted by cookie. */
	struct tcp_segments_sock *socks;
	size_t nsocks, cap;
	struct tcp_segments_departed *departed;
	size_t ndeparted, departed_cap;
};

/* A static tracker: the lock needs no init call, and every start resets the rest. */
#define TCP_SEGMENTS_INITIALIZER { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1, .destroy_fd = -1, .err = -ENOTCONN }

/* Before a server starts: closed, totals 0, unknown (-ENOTCONN) until tcp_segments_open. */
void tcp_segments_reset(struct tcp_segments *t);

/* On the server's thread, in its namespace, once it listens on `port`: opens the netlink socket
 * and reads the sockets already there as the starting point. 0, or -errno (kept in err). */
int tcp_segments_open(struct tcp_segments *t, uint16_t port);

/* Reads every socket now and adds what each sent and received since the last read. Totals
 * since open into *out: 0 when known, -errno when not (never opened, or sock_diag failed: the
 * counts stop there and stay unknown). Safe from any thread. */
int tcp_segments_read(struct tcp_segments *t, struct tcp_segment_counts *out);

/* After the server's connections have closed: reads until every socket the dumps lost has been
 * told to its end by the kernel (or max_ms passes). Returns as tcp_segments_read. */
int tcp_segments_settle(struct tcp_segments *t, unsigned max_ms);

/* For the doctor: a sock_diag dump of TCP sockets with tcp_info (*dump_err: 0 or -errno; -ENOENT
 * without tcp_diag), and joining SKNLGRP_INET_TCP_DESTROY (*destroy_err), each tried for real on
 * sockets of its own. */
void tcp_segments_probe(int *dump_err, int *destroy_err);

/* Closes the netlink socket and frees the table; the totals stay readable as they were. */
void tcp_segments_close(struct tcp_segments *t);

#ifdef __cplusplus
}
#endif

#endif
