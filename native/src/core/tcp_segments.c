/* The server's TCP segments from sock_diag (see tcp_segments.h). */
#define _GNU_SOURCE
#include "core/tcp_segments.h"

#include "core/clock.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Kernel TCP states (include/net/tcp_states.h, not in the uapi headers). Every state that has a
 * full socket with counters: not LISTEN, not the TIME_WAIT and SYN_RECV mini-sockets. */
enum { ST_ESTABLISHED = 1, ST_FIN_WAIT1 = 4, ST_FIN_WAIT2 = 5, ST_CLOSE = 7, ST_CLOSE_WAIT = 8,
       ST_LAST_ACK = 9, ST_CLOSING = 11 };
#define WANTED_STATES ((1u << ST_ESTABLISHED) | (1u << ST_FIN_WAIT1) | (1u << ST_FIN_WAIT2) | \
		       (1u << ST_CLOSE) | (1u << ST_CLOSE_WAIT) | (1u << ST_LAST_ACK) | (1u << ST_CLOSING))

/* tcpi_data_segs_out is the last counter we read: a tcp_info shorter than that (a kernel before
 * 4.6, older than any io_uring) leaves the counts unknown. */
#define TCP_INFO_NEEDED (offsetof(struct tcp_info, tcpi_data_segs_out) + sizeof(uint32_t))

#define RECV_BUF_BYTES (64 * 1024)
/* How long a socket gone from the dumps waits for the kernel's word on its end: the word is
 * sent from a workqueue within milliseconds. */
#define DEPARTED_KEEP_NS (2ull * 1000 * 1000 * 1000)

static int cmp_cookie(const void *a, const void *b)
{
	uint64_t x = ((const struct tcp_segments_sock *)a)->cookie;
	uint64_t y = ((const struct tcp_segments_sock *)b)->cookie;

	return x < y ? -1 : x > y;
}

static void close_locked(struct tcp_segments *t)
{
	if (t->fd >= 0)
		close(t->fd);
	if (t->destroy_fd >= 0)
		close(t->destroy_fd);
	t->fd = t->destroy_fd = -1;
	free(t->socks);
	t->socks = NULL;
	t->nsocks = t->cap = 0;
	free(t->departed);
	t->departed = NULL;
	t->ndeparted = t->departed_cap = 0;
}

void tcp_segments_reset(struct tcp_segments *t)
{
	pthread_mutex_lock(&t->lock);
	close_locked(t);
	t->err = -ENOTCONN;
	t->port = 0;
	memset(&t->total, 0, sizeof(t->total));
	pthread_mutex_unlock(&t->lock);
}

/* Room for one more of `size` bytes in *v (holding n of cap): doubles it when full. 0 or -ENOMEM. */
static int make_room(void **v, size_t n, size_t *cap, size_t size)
{
	if (n < *cap)
		return 0;
	size_t want = *cap ? *cap * 2 : 64;
	void *grown = realloc(*v, want * size);

	if (!grown)
		return -ENOMEM;
	*v = grown;
	*cap = want;
	return 0;
}

static int push(struct tcp_segments_sock **v, size_t *n, size_t *cap, const struct tcp_segments_sock *e)
{
	if (make_room((void **)v, *n, cap, sizeof(**v)))
		return -ENOMEM;
	(*v)[(*n)++] = *e;
	return 0;
}

/* A socket the last dump saw and this one did not: kept until the kernel's word on its end
 * comes (drain_destroyed_locked), at most DEPARTED_KEEP_NS. */
static void depart_locked(struct tcp_segments *t, const struct tcp_segments_sock *s, uint64_t now_ns)
{
	if (s->dead || t->destroy_fd < 0)
		return; /* already counted to its end, or no word will come: its tail is lost */
	if (make_room((void **)&t->departed, t->ndeparted, &t->departed_cap, sizeof(*t->departed)))
		return;
	t->departed[t->ndeparted++] = (struct tcp_segments_departed){ *s, now_ns };
}

/* Words that never came (the group overran, or the socket went to a state that has none). */
static void expire_departed_locked(struct tcp_segments *t, uint64_t now_ns)
{
	for (size_t i = 0; i < t->ndeparted;) {
		if (now_ns - t->departed[i].gone_ns > DEPARTED_KEEP_NS)
			t->departed[i] = t->departed[--t->ndeparted];
		else
			i++;
	}
}

/* If `h` is an inet_diag message for a socket on our port with a long enough tcp_info, its
 * counters into *e: 1; 0 otherwise. */
static int parse_sock(const struct tcp_segments *t, const struct nlmsghdr *h, struct tcp_segments_sock *e)
{
	const struct inet_diag_msg *m;
	int len;

	if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return 0;
	m = NLMSG_DATA(h);
	if (m->idiag_family != AF_INET || m->id.idiag_sport != htons(t->port))
		return 0;
	len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
	for (const struct rtattr *a = (const struct rtattr *)(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type != INET_DIAG_INFO || RTA_PAYLOAD(a) < TCP_INFO_NEEDED)
			continue;
		const struct tcp_info *ti = RTA_DATA(a);
		*e = (struct tcp_segments_sock){
			.cookie = (uint64_t)m->id.idiag_cookie[0] | (uint64_t)m->id.idiag_cookie[1] << 32,
			.segs_out = ti->tcpi_segs_out,
			.segs_in = ti->tcpi_segs_in,
			.data_out = ti->tcpi_data_segs_out,
			.data_in = ti->tcpi_data_segs_in,
		};
		return 1;
	}
	return 0;
}

/* One dump of the port's sockets into a new array (unsorted). 0 or -errno. */
static int dump_locked(struct tcp_segments *t, struct tcp_segments_sock **out, size_t *nout, size_t *capout)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	char *buf;
	int ret = 0, done = 0;

	*out = NULL;
	*nout = *capout = 0;
	memset(&msg, 0, sizeof(msg));
	msg.nlh.nlmsg_len = sizeof(msg);
	msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	msg.nlh.nlmsg_seq = ++t->seq;
	msg.req.sdiag_family = AF_INET;
	msg.req.sdiag_protocol = IPPROTO_TCP;
	msg.req.idiag_ext = 1 << (INET_DIAG_INFO - 1);
	msg.req.idiag_states = WANTED_STATES;
	/* The kernel skips other local ports itself; parse_sock checks again for any that do not. */
	msg.req.id.idiag_sport = htons(t->port);
	if (sendto(t->fd, &msg, sizeof(msg), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;

	buf = malloc(RECV_BUF_BYTES);
	if (!buf)
		return -ENOMEM;
	while (!done && !ret) {
		ssize_t n = recv(t->fd, buf, RECV_BUF_BYTES, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		if (n == 0) {
			ret = -EPIPE;
			break;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			struct tcp_segments_sock e;

			if (h->nlmsg_seq != t->seq)
				continue; /* an answer to an earlier dump that failed halfway */
			if (h->nlmsg_type == NLMSG_DONE) {
				done = 1;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *err = NLMSG_DATA(h);

				ret = h->nlmsg_len >= NLMSG_LENGTH(sizeof(*err)) && err->error ? err->error : -EPROTO;
				break;
			}
			if (parse_sock(t, h, &e) && (ret = push(out, nout, capout, &e)))
				break;
		}
	}
	free(buf);
	if (ret) {
		free(*out);
		*out = NULL;
		*nout = *capout = 0;
	}
	return ret;
}

/* Adds what a socket did since `last` (NULL: since it was made) to the totals. */
static void add_growth(struct tcp_segments *t, const struct tcp_segments_sock *now, const struct tcp_segments_sock *last)
{
	/* 32-bit counters: the difference is right across one wrap. */
	t->total.out += (uint32_t)(now->segs_out - (last ? last->segs_out : 0));
	t->total.in += (uint32_t)(now->segs_in - (last ? last->segs_in : 0));
	t->total.data_out += (uint32_t)(now->data_out - (last ? last->data_out : 0));
	t->total.data_in += (uint32_t)(now->data_in - (last ? last->data_in : 0));
}

static struct tcp_segments_sock *find_sock(struct tcp_segments_sock *v, size_t n, uint64_t cookie)
{
	struct tcp_segments_sock key = { .cookie = cookie };

	return bsearch(&key, v, n, sizeof(*v), cmp_cookie);
}

/*
 * The kernel's word on sockets destroyed since the last look (SKNLGRP_INET_TCP_DESTROY: their
 * last counters, sent from a workqueue moments after the socket goes): each adds what it did
 * after the last dump that saw it, or all of it if no dump did (born and gone between two).
 * The departed list holds sockets that left the dumps before their word came.
 */
static void drain_destroyed_locked(struct tcp_segments *t)
{
	char buf[16 * 1024];

	if (t->destroy_fd < 0)
		return;
	for (;;) {
		ssize_t n = recv(t->destroy_fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		/* ENOBUFS: some words were lost (a burst of closes on our port overran the socket's
		 * buffer), and those sockets lose their tail. Counted, so the span this read closes
		 * is reported as not counted rather than short; the words queued after the loss are
		 * still good, so the reading goes on. EAGAIN: all read. */
		if (n < 0 && errno == ENOBUFS) {
			t->total.words_lost++;
			continue;
		}
		if (n <= 0)
			return;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			struct tcp_segments_sock e, *last;

			/* The listener goes too when the server stops: it carries no connection's segments. */
			if (!parse_sock(t, h, &e) || !((1u << ((const struct inet_diag_msg *)NLMSG_DATA(h))->idiag_state) & WANTED_STATES))
				continue;
			last = find_sock(t->socks, t->nsocks, e.cookie);
			if (last) {
				if (last->dead)
					continue;
				add_growth(t, &e, last);
				last->dead = 1; /* told: not departed when the next dump misses it */
				continue;
			}
			size_t i;
			for (i = 0; i < t->ndeparted && t->departed[i].sock.cookie != e.cookie; i++)
				;
			if (i < t->ndeparted) {
				add_growth(t, &e, &t->departed[i].sock);
				t->departed[i] = t->departed[--t->ndeparted];
			} else {
				add_growth(t, &e, NULL);
			}
		}
	}
}

/* Dumps and adds each socket's growth since the last dump (all of it for a new socket, unless
 * `prime`: the sockets there before the server only set the starting point). */
static int update_locked(struct tcp_segments *t, int prime)
{
	struct tcp_segments_sock *now;
	size_t n, cap, j = 0;
	uint64_t now_ns = mono_ns();
	int ret;

	if (!prime)
		drain_destroyed_locked(t);
	ret = dump_locked(t, &now, &n, &cap);
	if (ret)
		return ret;
	qsort(now, n, sizeof(*now), cmp_cookie);
	for (size_t i = 0; i < n; i++) {
		while (j < t->nsocks && t->socks[j].cookie < now[i].cookie)
			depart_locked(t, &t->socks[j++], now_ns);
		if (j < t->nsocks && t->socks[j].cookie == now[i].cookie)
			add_growth(t, &now[i], &t->socks[j++]);
		else if (!prime)
			add_growth(t, &now[i], NULL);
	}
	while (j < t->nsocks)
		depart_locked(t, &t->socks[j++], now_ns);
	expire_departed_locked(t, now_ns);
	free(t->socks);
	t->socks = now;
	t->nsocks = n;
	t->cap = cap;
	return 0;
}

/* The kernel's word on each TCP socket as it is destroyed, with its last counters: without it
 * a connection that ends between two dumps loses what it sent since the last one. sock_diag
 * lets any user join (NL_CFG_F_NONROOT_RECV; tried as nobody here); where joining fails
 * anyway the counts stay, with that loss (destroy_err says why). */
static void open_destroy_group_locked(struct tcp_segments *t)
{
	struct sockaddr_nl group = { .nl_family = AF_NETLINK, .nl_groups = 1u << (SKNLGRP_INET_TCP_DESTROY - 1) };
	/* A burst of closes (1000 connections at a stop) must fit: ~300 bytes a word. */
	int rcvbuf = 4 << 20;

	t->destroy_fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_SOCK_DIAG);
	if (t->destroy_fd < 0) {
		t->destroy_err = -errno;
		return;
	}
	/* FORCE passes net.core.rmem_max with CAP_NET_ADMIN; without it the plain size is capped. */
	if (setsockopt(t->destroy_fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)))
		setsockopt(t->destroy_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	/*
	 * The group tells of every TCP socket of the namespace that goes, and other programs' short
	 * connections overran the buffer between two reads: the word on ours was lost with theirs,
	 * and a connection that lived between two dumps counted nothing (a `uring-lab server` whose
	 * one client made 20,000 round trips and closed reported 0 segments in 4 of 8 tries while
	 * other loopback connections came and went). A socket filter keeps only words on our port,
	 * before they take room: the source port is the big-endian u16 at byte 20 of each message
	 * (the nlmsghdr's 16, then inet_diag_msg's family, state, timer and retrans, then
	 * id.idiag_sport), which a classic BPF half-word load reads in host order.
	 */
	struct sock_filter keep_port[] = {
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, (uint32_t)(NLMSG_HDRLEN + offsetof(struct inet_diag_msg, id.idiag_sport))),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, t->port, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0xffffffffu),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = { .len = sizeof(keep_port) / sizeof(keep_port[0]), .filter = keep_port };
	/* Without it (a kernel that refuses socket filters on netlink) the words still come, with
	 * the others': the loss above, not worse. */
	setsockopt(t->destroy_fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
	if (bind(t->destroy_fd, (struct sockaddr *)&group, sizeof(group))) {
		t->destroy_err = -errno;
		close(t->destroy_fd);
		t->destroy_fd = -1;
		return;
	}
	t->destroy_err = 0;
}

int tcp_segments_settle(struct tcp_segments *t, unsigned max_ms)
{
	uint64_t until = mono_ns() + (uint64_t)max_ms * 1000000ull;
	int ret;

	pthread_mutex_lock(&t->lock);
	for (;;) {
		if (t->err || t->fd < 0 || t->destroy_fd < 0)
			break;
		if (update_locked(t, 0) != 0)
			break;
		if (!t->ndeparted || mono_ns() >= until)
			break;
		pthread_mutex_unlock(&t->lock);
		struct pollfd p = { .fd = t->destroy_fd, .events = POLLIN };
		poll(&p, 1, 5);
		pthread_mutex_lock(&t->lock);
	}
	ret = t->err;
	pthread_mutex_unlock(&t->lock);
	return ret;
}

int tcp_segments_open(struct tcp_segments *t, uint16_t port)
{
	struct timeval timeout = { .tv_sec = 1 };
	int ret = 0;

	pthread_mutex_lock(&t->lock);
	close_locked(t);
	t->port = port;
	memset(&t->total, 0, sizeof(t->total));
	t->fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (t->fd < 0)
		ret = -errno;
	/* A dump never blocks the snapshot for long, whatever the kernel does. */
	else if (setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)))
		ret = -errno;
	else {
		/* Joined before the first dump: a socket that goes after it is told about. */
		open_destroy_group_locked(t);
		ret = update_locked(t, 1);
	}
	if (ret)
		close_locked(t);
	t->err = ret;
	pthread_mutex_unlock(&t->lock);
	return ret;
}

int tcp_segments_read(struct tcp_segments *t, struct tcp_segment_counts *out)
{
	int ret;

	pthread_mutex_lock(&t->lock);
	if (!t->err && t->fd >= 0) {
		int err = update_locked(t, 0);

		/* A dump that timed out or overran the socket's buffer changes nothing (the table
		 * is the last good one), so the next read counts what this one missed. */
		if (err && err != -EAGAIN && err != -ENOBUFS && err != -EINTR) {
			t->err = err;
			close_locked(t);
		}
	}
	ret = t->err;
	*out = t->total;
	pthread_mutex_unlock(&t->lock);
	return ret;
}

void tcp_segments_probe(int *dump_err, int *destroy_err)
{
	struct tcp_segments t = TCP_SEGMENTS_INITIALIZER;

	/* Port 1 (tcpmux): a dump filtered to a port nothing listens on answers with no socket. */
	*dump_err = tcp_segments_open(&t, 1);
	*destroy_err = *dump_err ? *dump_err : t.destroy_err;
	tcp_segments_close(&t);
	pthread_mutex_destroy(&t.lock);
}

void tcp_segments_close(struct tcp_segments *t)
{
	pthread_mutex_lock(&t->lock);
	close_locked(t);
	pthread_mutex_unlock(&t->lock);
}
