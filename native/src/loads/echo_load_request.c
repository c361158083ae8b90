/*
 * A request's life on an echo load thread, and how it is timed.
 *
 * Each connection owns a send buffer and a receive buffer of messageBytes. A request: stamp
 * the send buffer so it differs from every earlier request, post the send and the receive
 * together (a large echo must be read while it is still being written, or both sides stall on
 * full socket buffers), and when all bytes are back compare them with what was sent.
 *
 * Timing, so that the generator's own work is not counted as latency:
 *  - t0: requests prepared while a batch of completions is processed are
 *    not on the wire until the submit after the batch, so they wait on the
 *    `unstamped` list and get one clock read taken immediately before the
 *    io_uring_submit_and_wait that really submits them (and before the
 *    fallback submit of a full SQ). Load rings never use SQPOLL, so no
 *    SQE leaves before that call.
 *  - end: one clock read right after the wait returns, used for every CQE
 *    reaped in that batch; handling earlier CQEs (memcmp, stamping) does not
 *    inflate later ones. Only CQEs already posted before that read are
 *    reaped, so no completion is dated before it happened.
 *  - round trip = end - t0 in ns, rounded UP to whole µs ((ns + 999) / 1000):
 *    never understated, at most 1 µs over.
 * Both reads are vDSO clock_gettime calls, not syscalls; per batch there are at most two.
 *
 * Each completed round trip also goes into a second histogram corrected
 * for coordinated omission: a closed loop stops sending while the server
 * stalls, so a 2 s stall shows as one slow sample per connection instead of
 * the many sends that would have waited. lh_record_corrected() adds those
 * omitted samples, with E = this thread's EWMA of the raw round trip
 * (alpha 1/64, seeded by the first sample, updated after the correction so
 * a stall does not raise its own E, at least 1 µs). E is per thread, not
 * per connection: when several connections of a thread come out of the
 * same stall, the first one's sample raises E and the later ones are
 * corrected with that larger E, so they add fewer synthetic samples.
 *
 * Published for snapshot(): per connection the t0 of its outstanding
 * request (0 when none; relaxed stores, one per request start and end) and
 * the number of live connections.
 */
#include <string.h>
#include <sys/socket.h>

#include "core/clock.h"
#include "core/counters.h"
#include "core/cqe.h"
#include "core/sqe.h"
#include "loads/echo_load_state.h"

size_t load_conn_bytes(void)
{
	/* load_conn, its published t0, its slot on the unstamped list */
	return sizeof(struct load_conn) + sizeof(uint64_t) + sizeof(unsigned);
}

/* Per-connection random bytes; the stamps below make each request unique. */
void fill_pattern(unsigned char *p, size_t n, unsigned id)
{
	uint64_t x = 0x9E3779B97F4A7C15ull * (id + 1);
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)(x >> 24);
	}
}

/*
 * Writes an 8-byte tag derived from (connection, request, offset) every 64
 * bytes: a stale, duplicated or misplaced chunk of an echo then differs from
 * what was sent, at a cost of msg/64 stores per request.
 */
static void stamp_message(struct load_conn *c, unsigned msg)
{
	uint64_t tag = (c->seq + 1) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)c->id << 40);

	if (msg < 8) {
		memcpy(c->sbuf, &tag, msg);
		return;
	}
	for (unsigned off = 0; off + 8 <= msg; off += 64) {
		uint64_t t = tag ^ ((uint64_t)off * 0xD6E8FEB86659FD93ull);
		memcpy(c->sbuf + off, &t, 8);
	}
}

void stamp_pending(void *ctx)
{
	struct echo_load_state *st = ctx;

	if (!st->nunstamped)
		return;
	uint64_t now = mono_ns();
	for (unsigned i = 0; i < st->nunstamped; i++) {
		unsigned idx = st->unstamped[i];
		st->conns[idx].t0 = now;
		__atomic_store_n(&st->pub->inflight_t0[idx], now, __ATOMIC_RELAXED);
	}
	st->nunstamped = 0;
}

struct io_uring_sqe *load_sqe(struct echo_load_state *st)
{
	return sqe_get_hooked(&st->ring, stamp_pending, st);
}

static void post_send(struct echo_load_state *st, unsigned idx)
{
	struct load_conn *c = &st->conns[idx];
	struct io_uring_sqe *sqe = load_sqe(st);

	/* MSG_WAITALL: io_uring retries a short stream send itself. */
	io_uring_prep_send(sqe, c->fd, c->sbuf + c->sent, st->msg - c->sent, MSG_NOSIGNAL | MSG_WAITALL);
	io_uring_sqe_set_data64(sqe, user_data(TAG_SEND, idx));
	c->send_inflight = 1;
	st->inflight++;
}

static void post_recv(struct echo_load_state *st, unsigned idx)
{
	struct load_conn *c = &st->conns[idx];
	struct io_uring_sqe *sqe = load_sqe(st);

	/* Into the connection's own buffer at the offset reached so far. */
	io_uring_prep_recv(sqe, c->fd, c->rbuf + c->got, st->msg - c->got, MSG_WAITALL);
	io_uring_sqe_set_data64(sqe, user_data(TAG_RECV, idx));
	c->recv_inflight = 1;
	st->inflight++;
}

void start_request(struct echo_load_state *st, unsigned idx)
{
	struct load_conn *c = &st->conns[idx];

	c->seq++;
	stamp_message(c, st->msg);
	c->sent = c->got = 0;
	c->t0 = 0;
	/* Listed before its SQEs exist: if load_sqe() has to submit between
	 * the send and the recv, the send leaves then, stamped. */
	st->unstamped[st->nunstamped++] = idx;
	post_send(st, idx);
	post_recv(st, idx);
}

/*
 * A failed or closed connection stops its loop; it is counted unless we are
 * stopping ourselves (then -ECANCELED and friends are our own doing). The
 * shutdown ends whichever of send/recv is still pending.
 */
static void conn_dead(struct echo_load_state *st, struct load_conn *c)
{
	if (!c->dead) {
		if (!st->stopping) {
			counter_add(&st->pub->errors, 1);
			shutdown(c->fd, SHUT_RDWR);
		}
		/* Its request will never complete: no longer in flight. */
		__atomic_store_n(&st->pub->inflight_t0[c - st->conns], 0, __ATOMIC_RELAXED);
		counter_add(&st->pub->live_conns, (uint64_t)-1);
	}
	c->dead = 1;
}

/* Raw round trip into the corrected histogram; see the comment at the top. */
static void record_corrected(struct echo_load_state *st, uint64_t us)
{
	struct latency_histogram *h = &st->pub->corrected;

	if (!st->ewma_ready) {
		lh_record(h, us);
		st->ewma_us = (double)us;
		st->ewma_ready = 1;
		return;
	}
	uint64_t e = (uint64_t)(st->ewma_us + 0.5);
	lh_record_corrected(h, us, e ? e : 1);
	st->ewma_us += ((double)us - st->ewma_us) / 64.0;
}

static void maybe_complete(struct echo_load_state *st, unsigned idx)
{
	struct load_conn *c = &st->conns[idx];

	if (c->dead || c->send_inflight || c->recv_inflight || c->sent < st->msg || c->got < st->msg)
		return;
	/* reap_ns was read after the wait that reaped this CQE, t0 before the
	 * submit that sent the request: reap_ns >= t0. */
	uint64_t us = lh_ns_to_us(st->reap_ns - c->t0);
	lh_record(&st->pub->hist, us);
	record_corrected(st, us);
	__atomic_store_n(&st->pub->inflight_t0[idx], 0, __ATOMIC_RELAXED);
	counter_add(&st->pub->bytes, st->msg);
	if (memcmp(c->sbuf, c->rbuf, st->msg))
		counter_add(&st->pub->errors, 1); /* counted, and the connection carries on */
	if (!st->stopping)
		start_request(st, idx);
}

/* A send or recv completed: `done` is the connection's sent or got, `post` re-posts the rest. */
static void on_transfer(struct echo_load_state *st, unsigned idx, int res, unsigned *done,
			void (*post)(struct echo_load_state *, unsigned))
{
	struct load_conn *c = &st->conns[idx];

	if (c->dead)
		return;
	if (res <= 0) {
		conn_dead(st, c); /* a recv of 0: the server closed on us */
		return;
	}
	*done += (unsigned)res;
	if (*done < st->msg && !st->stopping)
		post(st, idx); /* short: the remainder */
	maybe_complete(st, idx);
}

static void handle_cqe(void *ctx, const struct io_uring_cqe *cqe)
{
	struct echo_load_state *st = ctx;
	uint64_t data = io_uring_cqe_get_data64(cqe);
	unsigned idx = user_data_index(data);
	struct load_conn *c = &st->conns[idx];

	st->inflight--;
	switch (user_data_tag(data)) {
	case TAG_SEND:
		c->send_inflight = 0;
		on_transfer(st, idx, cqe->res, &c->sent, post_send);
		break;
	case TAG_RECV:
		c->recv_inflight = 0;
		on_transfer(st, idx, cqe->res, &c->got, post_recv);
		break;
	case TAG_WAKE:
	case TAG_DEADLINE: /* -ETIME: maxDurationMs reached */
		st->stopping = 1;
		break;
	case TAG_CANCEL:
		break;
	}
}

/*
 * Reading the ready count before the clock matters without DEFER_TASKRUN (the fallback
 * ring), where CQEs can arrive while earlier ones are handled: those wait for the next batch
 * and its later clock read.
 */
void reap_batch(void *ctx)
{
	struct echo_load_state *st = ctx;
	unsigned ready = io_uring_cq_ready(&st->ring);

	st->reap_ns = mono_ns();
	cqe_reap(&st->ring, ready, handle_cqe, st);
}
