/*
 * A request's life on an echo load thread, and how it is timed.
 *
 * Each connection owns `load.pipeline` send slots of messageBytes and one receive buffer. A
 * request: stamp its slot so it differs from every earlier request, queue it; the connection
 * sends its queue in order (one send SQE at a time) and keeps one receive posted for the head
 * of the queue while anything is queued (a large echo must be read while it is still being
 * written, or both sides stall on full socket buffers); when all the head's bytes are back they
 * are compared with its slot. Short sends and receives post the remainder.
 *
 * Closed loop (load.mode closed): every connection keeps `pipeline` requests queued; a
 * completed one is replaced at once. Open loop (load.mode open, like wrk2): request g of the
 * thread's schedule is intended at start + g / rate on connection g mod n; when its time comes
 * it is started if its connection has a free slot, else it waits for one (counted in `due`),
 * and its latency is measured from its INTENDED time either way, so a server stall shows up
 * as latency of every request scheduled during it, not as a lower rate. The open-loop
 * histogram is therefore already free of coordinated omission: the corrected histogram gets
 * the same samples there (p99Corrected == p99).
 *
 * Timeouts (load.timeoutMs): a scan every min(timeout / 8, 50 ms) abandons a connection whose
 * head request was sent longer ago than the timeout and is still unanswered (counted from its
 * send, so an open loop's backlog shows as latency, never as timeouts): its started requests count as `timeouts` (not as
 * errors), the socket is shut down (which ends its pending send/recv) and it takes no more
 * requests, so a wedged server ends in a result instead of a hang.
 *
 * Timing, so that the generator's own work is not counted as latency:
 *  - t0 (closed loop; open-loop t0 is the intended time): requests prepared while a batch of
 *    completions is processed are
 *    not on the wire until the submit after the batch, so they wait on the
 *    `unstamped` list and get one clock read taken immediately before the
 *    io_uring_enter that really submits them (and before the
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
 * per connection, and a sample feeds it at most 4 × E: when the many
 * connections of a thread come out of one stall together, their 2 s samples
 * would otherwise raise E by ~30 ms each, and the later connections would
 * be corrected with that E, adding almost nothing (a stall under CPU
 * contention then hid in the corrected p99). Clamped, E still follows a
 * lasting change of the round trip (×1.05 per sample while it is over 4 × E).
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

size_t load_conn_bytes(unsigned pipeline)
{
	/* load_conn, its published t0, its slot on the unstamped list, per slot t0, seq, sent_at */
	return sizeof(struct load_conn) + sizeof(uint64_t) + sizeof(unsigned) + (size_t)pipeline * 3 * sizeof(uint64_t);
}

/* Per-connection random bytes; the stamps below make each request unique. Eight bytes per
 * xorshift step: one byte per step held the load thread in set-up for ~300 ms at 1,000 ×
 * 64 KiB (64 MiB of send buffers; perf: 90 % of the thread in this loop). */
void fill_pattern(unsigned char *p, size_t n, unsigned id)
{
	uint64_t x = 0x9E3779B97F4A7C15ull * (id + 1);
	size_t i = 0;

	for (;;) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (i + 8 > n)
			break;
		memcpy(p + i, &x, 8);
		i += 8;
	}
	memcpy(p + i, &x, n - i);
}

/*
 * Writes an 8-byte tag derived from (connection, request, offset) every 64
 * bytes: a stale, duplicated, reordered or misplaced chunk of an echo then
 * differs from what was sent, at a cost of msg/64 stores per request.
 */
static void stamp_message(unsigned char *p, unsigned id, uint64_t seq, unsigned msg)
{
	uint64_t tag = (seq + 1) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)id << 40);

	if (msg < 8) {
		memcpy(p, &tag, msg);
		return;
	}
	for (unsigned off = 0; off + 8 <= msg; off += 64) {
		uint64_t t = tag ^ ((uint64_t)off * 0xD6E8FEB86659FD93ull);
		memcpy(p + off, &t, 8);
	}
}

static void publish_head(struct echo_load_state *st, unsigned idx)
{
	struct load_conn *c = &st->conns[idx];
	uint64_t t0 = c->count ? c->t0[c->head] : 0;

	__atomic_store_n(&st->pub->inflight_t0[idx], t0, __ATOMIC_RELAXED);
}

void stamp_pending(void *ctx)
{
	struct echo_load_state *st = ctx;

	if (!st->nunstamped)
		return;
	uint64_t now = mono_ns();
	for (unsigned i = 0; i < st->nunstamped; i++) {
		unsigned idx = st->unstamped[i];
		struct load_conn *c = &st->conns[idx];
		c->t0[c->send_slot] = now;
		if (c->send_slot == c->head)
			publish_head(st, idx);
	}
	st->nunstamped = 0;
}

struct io_uring_sqe *load_sqe(struct echo_load_state *st)
{
	return sqe_get_hooked(&st->ring, stamp_pending, st);
}

static unsigned slot_at(const struct echo_load_state *st, const struct load_conn *c, unsigned k)
{
	unsigned s = c->head + k;
	return s >= st->pipeline ? s - st->pipeline : s;
}

/* Sends the next unsent bytes of the queue, if no send is out. */
static void kick_send(struct echo_load_state *st, unsigned idx)
{
	struct load_conn *c = &st->conns[idx];

	if (c->dead || c->send_inflight || c->nsent >= c->count || st->stopping)
		return;
	unsigned slot = slot_at(st, c, c->nsent);
	/* Listed before its SQE exists: if load_sqe() has to submit, the send leaves then, stamped. */
	if (!st->open && c->sent == 0 && c->t0[slot] == 0)
		st->unstamped[st->nunstamped++] = idx;
	c->send_slot = slot;
	if (c->sent == 0)
		c->sent_at[slot] = st->clock_ns;
	struct io_uring_sqe *sqe = load_sqe(st);
	/* MSG_WAITALL: io_uring retries a short stream send itself. */
	io_uring_prep_send(sqe, c->fd, c->sbuf + (size_t)slot * st->msg + c->sent, st->msg - c->sent,
			   MSG_NOSIGNAL | MSG_WAITALL);
	io_uring_sqe_set_data64(sqe, user_data(TAG_SEND, idx));
	c->send_inflight = 1;
	st->inflight++;
}

/* Receives the rest of the head's echo, if no receive is out. */
static void kick_recv(struct echo_load_state *st, unsigned idx)
{
	struct load_conn *c = &st->conns[idx];

	if (c->dead || c->recv_inflight || !c->count || c->got >= st->msg || st->stopping)
		return;
	struct io_uring_sqe *sqe = load_sqe(st);
	io_uring_prep_recv(sqe, c->fd, c->rbuf + c->got, st->msg - c->got, MSG_WAITALL);
	/* The echo is never there yet when the receive is posted (it is posted with its send):
	 * POLL_FIRST skips the doomed first attempt and arms the poll at once (2-3 % less load
	 * CPU measured, engine_review.md). */
	sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
	io_uring_sqe_set_data64(sqe, user_data(TAG_RECV, idx));
	c->recv_inflight = 1;
	st->inflight++;
}

void start_request(struct echo_load_state *st, unsigned idx, uint64_t intended)
{
	struct load_conn *c = &st->conns[idx];
	unsigned slot = slot_at(st, c, c->count);

	c->seq[slot] = c->seq_next++;
	stamp_message(c->sbuf + (size_t)slot * st->msg, c->id, c->seq[slot], st->msg);
	c->t0[slot] = intended;
	c->sent_at[slot] = 0;
	c->count++;
	counter_add(&st->pub->outstanding, 1);
	if (c->count == 1)
		publish_head(st, idx);
	kick_send(st, idx);
	kick_recv(st, idx);
}

/* Removes connection c's started requests from the outstanding gauge and its head from view. */
static void conn_forget(struct echo_load_state *st, struct load_conn *c)
{
	counter_add(&st->pub->outstanding, (uint64_t)-(int64_t)c->count);
	c->count = 0;
	c->due = 0;
	__atomic_store_n(&st->pub->inflight_t0[c - st->conns], 0, __ATOMIC_RELAXED);
	counter_add(&st->pub->live_conns, (uint64_t)-1);
	c->dead = 1;
}

/*
 * A failed or closed connection stops its loop; it is counted unless we are
 * stopping ourselves (then -ECANCELED and friends are our own doing). The
 * shutdown ends whichever of send/recv is still pending.
 */
static void conn_dead(struct echo_load_state *st, struct load_conn *c)
{
	if (c->dead)
		return;
	if (!st->stopping) {
		counter_add(&st->pub->errors, 1);
		shutdown(c->fd, SHUT_RDWR);
	}
	conn_forget(st, c);
}

void check_timeouts(struct echo_load_state *st, uint64_t now)
{
	uint64_t limit = st->pub->cfg.timeout_ns;

	if (!limit || now < st->next_scan_ns)
		return;
	st->next_scan_ns = now + st->scan_every_ns;
	for (unsigned i = 0; i < st->pub->cfg.nconns; i++) {
		struct load_conn *c = &st->conns[i];
		uint64_t sent = c->count ? c->sent_at[c->head] : 0;
		/* Counted from the head's send, not its intended time: a head not sent yet is not
		 * the server's to answer, and an open loop's backlog is latency, not a timeout. */
		if (c->dead || !sent || now < sent || now - sent <= limit)
			continue;
		/* Every started request of the connection is lost with it. */
		counter_add(&st->pub->timeouts, c->count);
		shutdown(c->fd, SHUT_RDWR);
		conn_forget(st, c);
	}
}

/* Raw round trip into the corrected histogram; see the comment at the top. */
static void record_corrected(struct echo_load_state *st, uint64_t us)
{
	struct latency_histogram *h = &st->pub->corrected;

	if (st->open) { /* measured from the intended time: nothing was omitted */
		lh_record(h, us);
		return;
	}
	if (!st->ewma_ready) {
		lh_record(h, us);
		st->ewma_us = (double)us;
		st->ewma_ready = 1;
		return;
	}
	uint64_t e = (uint64_t)(st->ewma_us + 0.5);
	lh_record_corrected(h, us, e ? e : 1);
	double fed = (double)us > 4.0 * st->ewma_us ? 4.0 * st->ewma_us : (double)us;

	st->ewma_us += (fed - st->ewma_us) / 64.0;
}

/* The open loop's next request on connection idx, if one is due and a slot is free. */
static void start_due(struct echo_load_state *st, unsigned idx)
{
	struct load_conn *c = &st->conns[idx];
	unsigned n = st->pub->cfg.nconns;

	while (c->due && c->count < st->pipeline && !c->dead && !st->stopping) {
		uint64_t g = c->sched_next * n + idx;
		c->due--;
		c->sched_next++;
		start_request(st, idx, st->sched_start + (uint64_t)((double)g * st->period_ns));
	}
}

void advance_schedule(struct echo_load_state *st, uint64_t now)
{
	unsigned n = st->pub->cfg.nconns;

	for (;;) {
		uint64_t at = st->sched_start + (uint64_t)((double)st->sched_g * st->period_ns);
		if (at > now)
			break;
		unsigned idx = (unsigned)(st->sched_g % n);
		st->sched_g++;
		if (st->conns[idx].dead)
			continue; /* its share is lost: achieved < offered says so */
		st->conns[idx].due++;
		start_due(st, idx);
	}
}

/* Completes the head while its echo is whole and its send CQE was seen (either may come first). */
static void try_complete(struct echo_load_state *st, unsigned idx)
{
	struct load_conn *c = &st->conns[idx];

	while (!c->dead && c->count && c->nsent && c->got >= st->msg) {
		unsigned slot = c->head;
		uint64_t t0 = c->t0[slot];
		/* reap_ns was read after the wait that reaped this CQE; t0 before the submit that sent
		 * the request (closed) or at a time already past when it was started (open). */
		uint64_t us = lh_ns_to_us(st->reap_ns > t0 ? st->reap_ns - t0 : 0);
		/* A wrong echo is an error, not a request served: it stays out of the histograms, so
		 * out of requests, bytes, throughput and latency (the summary says they exclude errors);
		 * the connection carries on. */
		if (memcmp(c->sbuf + (size_t)slot * st->msg, c->rbuf, st->msg)) {
			counter_add(&st->pub->errors, 1);
			counter_add(&st->pub->mismatches, 1);
		} else {
			lh_record(&st->pub->hist, us);
			record_corrected(st, us);
			/* The same completions as the histogram, per connection: who got served. */
			uint64_t *echoes = st->pub->cfg.echoes;
			if (echoes)
				__atomic_store_n(&echoes[idx], echoes[idx] + 1, __ATOMIC_RELAXED);
		}
		c->head = slot_at(st, c, 1);
		c->count--;
		c->nsent--;
		c->got = 0;
		counter_add(&st->pub->outstanding, (uint64_t)-1);
		publish_head(st, idx);
		if (st->stopping)
			continue;
		if (st->open)
			start_due(st, idx);
		else
			start_request(st, idx, 0);
	}
	kick_recv(st, idx);
}

static void on_send(struct echo_load_state *st, unsigned idx, int res)
{
	struct load_conn *c = &st->conns[idx];

	c->send_inflight = 0;
	if (c->dead)
		return;
	if (res <= 0) {
		conn_dead(st, c);
		return;
	}
	c->sent += (unsigned)res;
	if (c->sent >= st->msg) {
		c->sent = 0;
		c->nsent++;
	}
	kick_send(st, idx); /* the remainder, or the next queued request */
	try_complete(st, idx);
}

static void on_recv(struct echo_load_state *st, unsigned idx, int res)
{
	struct load_conn *c = &st->conns[idx];

	c->recv_inflight = 0;
	if (c->dead)
		return;
	if (res <= 0) {
		conn_dead(st, c); /* a recv of 0: the server closed on us */
		return;
	}
	c->got += (unsigned)res;
	try_complete(st, idx); /* or posts the rest (short read) */
}

static void handle_cqe(void *ctx, const struct io_uring_cqe *cqe)
{
	struct echo_load_state *st = ctx;
	uint64_t data = io_uring_cqe_get_data64(cqe);
	unsigned idx = user_data_index(data);

	st->inflight--;
	switch (user_data_tag(data)) {
	case TAG_SEND:
		on_send(st, idx, cqe->res);
		break;
	case TAG_RECV:
		on_recv(st, idx, cqe->res);
		break;
	case TAG_TICK:
		st->tick_armed = 0;
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
	st->clock_ns = st->reap_ns;
	cqe_reap(&st->ring, ready, handle_cqe, st);
}
