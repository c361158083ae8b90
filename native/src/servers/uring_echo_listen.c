/*
 * The io_uring echo server's listening side: the checks that this kernel does multishot recv
 * with provided buffers and keeps the quiet-send contract, the listening socket on 127.0.0.1,
 * and the multishot accept.
 *
 * An accept refused for lack of descriptors (-EMFILE/-ENFILE) ends the multishot accept while
 * the connection stays in the backlog: re-arming at once would fail again at once, a busy
 * spin. It is counted as a server error and re-armed after a 10 ms timeout instead. While
 * stopping, a freshly accepted socket is closed at once: a recv armed on it after the drain's
 * cancel-all would never be cancelled and the drain would wait its timeout.
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/counters.h"
#include "core/loopback.h"
#include "core/sqe.h"
#include "servers/uring_echo_state.h"

#define ACCEPT_BACKOFF_NS (10 * NS_PER_MS)

/* Hands a buffer a probe CQE took straight back (the receive path's accounting: with an
 * incremental ring the kernel may keep using it). */
static void probe_return_buffer(struct echo_state *st, int res, unsigned cqe_flags)
{
	if (cqe_flags & IORING_CQE_F_BUFFER) {
		echo_recv_discard(st, res, cqe_flags);
		buffer_ring_publish(&st->bufs);
	}
}

/*
 * One multishot recv of the byte waiting on fd: its result, or a negative errno. *more says
 * whether it stayed armed (F_MORE).
 */
static int probe_recv(struct echo_state *st, int fd, int *more)
{
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe = sqe_get(&st->ring);

	io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = ECHO_BUFFER_GROUP;
	io_uring_sqe_set_data64(sqe, user_data(TAG_PROBE, 0));

	int ret = io_uring_submit_and_wait(&st->ring, 1);
	if (ret < 0)
		return ret;
	ret = io_uring_peek_cqe(&st->ring, &cqe);
	if (ret < 0)
		return ret;
	int res = cqe->res;
	unsigned flags = cqe->flags;
	io_uring_cqe_seen(&st->ring, cqe);
	if (res >= 0)
		probe_return_buffer(st, res, flags);
	*more = !!(flags & IORING_CQE_F_MORE);
	return res;
}

/*
 * Checks that this kernel does multishot recv with buffer select (Linux 6.0+) before anything
 * depends on it: a socketpair, one byte, one recv.
 */
int probe_multishot_recv(struct echo_state *st)
{
	struct io_uring_cqe *cqe;
	int sv[2];
	int ret = 0, more = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	if (write(sv[1], "x", 1) != 1) {
		ret = -errno;
		goto out;
	}
	ret = probe_recv(st, sv[0], &more);
	if (ret < 0)
		goto out; /* -EINVAL: multishot recv not supported */
	ret = 0;
	if (more) {
		/* Still armed: closing the peer ends it with res 0. */
		close(sv[1]);
		sv[1] = -1;
		unsigned flags;
		do {
			if (io_uring_wait_cqe(&st->ring, &cqe))
				break;
			flags = cqe->flags;
			probe_return_buffer(st, cqe->res, flags);
			io_uring_cqe_seen(&st->ring, cqe);
		} while (flags & IORING_CQE_F_MORE);
	}
out:
	close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	return ret;
}

/* One send of len bytes of buf on fd as a quiet send would go (MSG_DONTWAIT | MSG_WAITALL,
 * IOSQE_CQE_SKIP_SUCCESS), submitted without waiting. Returns what its CQE said, or
 * QUIET_NO_CQE when none was there once the submit returned (*pending then says whether it may
 * still come), or QUIET_FAILED when the submit failed. */
#define QUIET_NO_CQE INT_MIN
#define QUIET_FAILED (INT_MIN + 1)
static int quiet_send_once(struct echo_state *st, int fd, const void *buf, size_t len, unsigned *pending)
{
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe = sqe_get(&st->ring);

	io_uring_prep_send(sqe, fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT | MSG_WAITALL);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	io_uring_sqe_set_data64(sqe, user_data(TAG_PROBE, 1));
	if (io_uring_submit(&st->ring) != 1)
		return QUIET_FAILED;
	if (io_uring_peek_cqe(&st->ring, &cqe) != 0) {
		(*pending)++;
		return QUIET_NO_CQE;
	}
	int res = cqe->res;
	io_uring_cqe_seen(&st->ring, cqe);
	return res;
}

/* Reads whatever fd holds (non-blocking); returns the bytes read. */
static size_t drain_fd(int fd)
{
	char sink[4096];
	size_t total = 0;
	ssize_t n;

	while ((n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT)) > 0)
		total += (size_t)n;
	return total;
}

/*
 * Whether this kernel keeps the contract quiet sends rely on (uring_echo_state.h), tried on a
 * socketpair with a small send buffer: a send that finds the socket full fails at once with
 * -EAGAIN (MSG_DONTWAIT is honoured, the send is not parked on a poll), one that finds room
 * for part of it posts a CQE with what it sent, and one that sends everything posts none.
 * Kernels differ here (how a short MSG_WAITALL send reports its partial bytes changed over
 * 5.x-6.x), and a silent success taken for granted where the kernel parked the send would
 * hand its buffer back while the kernel still reads it: so the behaviour is tried, not the
 * version. Returns 0 when it holds, else the errno to refuse server.quietSends with: -EOPNOTSUPP
 * for any surprise, or what kept the check from running.
 */
int probe_quiet_sends(struct echo_state *st)
{
	static const char payload[16] = "quiet-send-probe";
	char fill[1024];
	size_t big_len = 256 * 1024;
	unsigned char *big = NULL;
	unsigned pending = 0;
	int sv[2], small = 4096, ret = -EOPNOTSUPP, res;

	if (!(st->pub->ring.features & IORING_FEAT_CQE_SKIP))
		return -EOPNOTSUPP;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	big = calloc(1, big_len);
	if (!big) {
		ret = -ENOMEM;
		goto out;
	}
	memset(fill, 'f', sizeof(fill));
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	while (send(sv[0], fill, sizeof(fill), MSG_DONTWAIT) > 0) {
	}
	/* Full: it must fail now. */
	res = quiet_send_once(st, sv[0], payload, sizeof(payload), &pending);
	if (res != -EAGAIN)
		goto out;
	/* Room for part: it must say how much went. */
	drain_fd(sv[1]);
	res = quiet_send_once(st, sv[0], big, big_len, &pending);
	if (res <= 0 || (size_t)res >= big_len)
		goto out;
	/* Room for all: no CQE, and the bytes arrived. */
	drain_fd(sv[1]);
	res = quiet_send_once(st, sv[0], payload, sizeof(payload), &pending);
	if (res != QUIET_NO_CQE)
		goto out;
	pending = 0;
	if (drain_fd(sv[1]) == sizeof(payload))
		ret = 0;
out:
	close(sv[0]);
	close(sv[1]);
	/* A send the kernel parked after all ends with the sockets closed: reap it before the
	 * memory it reads goes. */
	for (unsigned i = 0; i < pending; i++) {
		struct io_uring_cqe *cqe;
		struct __kernel_timespec ts = kernel_timespec(NS_PER_MS * 100);
		if (io_uring_wait_cqe_timeout(&st->ring, &cqe, &ts))
			break;
		io_uring_cqe_seen(&st->ring, cqe);
	}
	free(big);
	return ret;
}

int listen_socket(struct echo_state *st, enum start_step *step)
{
	return server_listen(st->pub, 0, &st->listen_fd, step);
}

/* Free file-table slots above which the multishot accept runs: a burst as large as the listen
 * backlog (somaxconn, 4096 here) cannot fill the table before the loop sees it and cancels it. */
#define DIRECT_MULTISHOT_MIN_FREE 4096

void arm_accept(struct echo_state *st)
{
	if (st->direct && st->direct_used >= st->direct_slots) {
		/* Table full: an accept now would dequeue a client and drop it (ENFILE). The
		 * client waits in the backlog; the next close re-arms (on_direct_closed). */
		st->accept_paused = 1;
		return;
	}
	struct io_uring_sqe *sqe = sqe_get(&st->ring);

	st->accept_paused = 0;
	if (st->direct) {
		/* A direct descriptor has no fd to setsockopt on: accepted sockets inherit
		 * TCP_NODELAY from the listener instead (set here, before any accept). */
		int one = 1;
		setsockopt(st->listen_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		/* No SOCK_CLOEXEC: a direct descriptor is no fd, and the kernel refuses the
		 * flag with a file slot (EINVAL). One at a time when few slots are free. */
		st->accept_multishot = st->direct_slots - st->direct_used > DIRECT_MULTISHOT_MIN_FREE;
		if (st->accept_multishot)
			io_uring_prep_multishot_accept_direct(sqe, st->listen_fd, NULL, NULL, 0);
		else
			/* ALLOC - 1: liburing adds one, the kernel wants IORING_FILE_INDEX_ALLOC (as the multishot helper does). */
			io_uring_prep_accept_direct(sqe, st->listen_fd, NULL, NULL, 0, IORING_FILE_INDEX_ALLOC - 1);
	} else {
		io_uring_prep_multishot_accept(sqe, st->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	}
	io_uring_sqe_set_data64(sqe, user_data(TAG_ACCEPT, 0));
	st->inflight++;
}

/* Closes an accepted socket nobody will serve: an fd, or a slot of the direct file table. */
static void accepted_close(struct echo_state *st, int res)
{
	if (!st->direct) {
		close(res);
		return;
	}
	struct io_uring_sqe *sqe = sqe_get(&st->ring);
	io_uring_prep_close_direct(sqe, (unsigned)res);
	io_uring_sqe_set_data64(sqe, user_data(TAG_CLOSE, 0));
	st->inflight++;
}

/* Re-arms the accept in ACCEPT_BACKOFF_NS; cancel-all ends it when stopping. */
static void arm_accept_later(struct echo_state *st)
{
	struct io_uring_sqe *sqe = sqe_get(&st->ring);

	st->accept_backoff = kernel_timespec(ACCEPT_BACKOFF_NS);
	io_uring_prep_timeout(sqe, &st->accept_backoff, 0, 0);
	io_uring_sqe_set_data64(sqe, user_data(TAG_ACCEPT_RETRY, 0));
	st->inflight++;
}

/* The accept failed for want of a resource that a retry right away would not find either. */
static int accept_starved(int res)
{
	return res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM;
}

void on_accept(struct echo_state *st, const struct io_uring_cqe *cqe)
{
	int res = cqe->res;

	if (res >= 0 && st->direct) {
		/* A slot taken, whatever becomes of the socket: its close gives it back (on_direct_closed). */
		st->direct_used++;
		if (st->accept_multishot && (cqe->flags & IORING_CQE_F_MORE) &&
		    st->direct_used + DIRECT_MULTISHOT_MIN_FREE >= st->direct_slots) {
			/* Few slots left: end the multishot accept; its last CQE re-arms one at a time. */
			struct io_uring_sqe *sqe = sqe_get(&st->ring);
			io_uring_prep_cancel64(sqe, user_data(TAG_ACCEPT, 0), 0);
			io_uring_sqe_set_data64(sqe, user_data(TAG_ACCEPT_CANCEL, 0));
			st->inflight++;
			st->accept_multishot = 0;
		}
	}
	if (res >= 0 && st->stopping) {
		accepted_close(st, res);
	} else if (res >= 0) {
		struct conn *c = conn_alloc(st);
		if (!c) {
			accepted_close(st, res);
			echo_error(st, SERVER_ERR_OTHER);
		} else {
			int one = 1;
			/* Echo replies are small writes: do not let Nagle hold them (a direct
			 * descriptor inherited it from the listener, see arm_accept). */
			if (!st->direct)
				setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			c->fd = res; /* with direct descriptors: its index in the file table */
			counter_add(&st->pub->accepted, 1);
			server_conn_opened(st->pub, &c->echo);
			conn_arm_recv(st, c);
		}
	} else if (!echo_benign(res) && res != -EINTR && res != -EAGAIN) {
		/* ENFILE with direct descriptors: the file table is full (backed off below). */
		echo_error(st, SERVER_ERR_ACCEPT);
	}
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		st->inflight--;
		if (st->stopping)
			return;
		/* Any real error, not only a starved one, waits the backoff: an accept the
		 * kernel refuses outright would otherwise spin at a million CQEs a second. */
		if (accept_starved(res) || (res < 0 && !echo_benign(res) && res != -EINTR && res != -EAGAIN))
			arm_accept_later(st);
		else
			arm_accept(st);
	}
}

void on_direct_closed(struct echo_state *st)
{
	if (st->direct_used)
		st->direct_used--;
	if (st->accept_paused && !st->stopping)
		arm_accept(st);
}

/* The backoff timeout ended: -ETIME when it fired, -ECANCELED by the drain. */
void on_accept_retry(struct echo_state *st)
{
	st->inflight--;
	if (!st->stopping)
		arm_accept(st);
}
