/*
 * The io_uring echo server's private state, shared by its three files: uring_echo.c (the
 * thread: start-up, loop, teardown), uring_echo_conn.c (a connection's echo path) and
 * uring_echo_listen.c (the listening socket, multishot accept). Only the server thread
 * touches any of it.
 */
#ifndef URING_LAB_SERVERS_URING_ECHO_STATE_H
#define URING_LAB_SERVERS_URING_ECHO_STATE_H

#include <liburing.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buffer_ring.h"
#include "core/server.h"
#include "core/user_data.h"

#define ECHO_BUFFER_GROUP 7 /* provided-buffer group id, any 16-bit value */
/* iovecs of one sendmsg: a 64 KiB message over 2 KiB buffers is 32 of them. */
#define SEND_IOV_MAX 64

/* Flag values newer than liburing 2.3's headers (kernel uapi). */
#ifndef IORING_RECVSEND_BUNDLE
#define IORING_RECVSEND_BUNDLE (1U << 4) /* sqe->ioprio of a buffer-select recv, Linux 6.10 */
#endif
#ifndef IORING_FEAT_RECVSEND_BUNDLE
#define IORING_FEAT_RECVSEND_BUNDLE (1U << 14)
#endif
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3) /* SEND_ZC ioprio: say in the notification if it copied, 6.2 */
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31) /* notification res: the kernel copied after all */
#endif

/* user_data tags of this ring (core/user_data.h); the index is the connection's slot. */
enum echo_tag {
	TAG_ACCEPT = TAG_OWN,
	TAG_ACCEPT_RETRY, /* backoff timeout after a refused accept */
	TAG_RECV,
	TAG_SEND,
	TAG_PROBE, /* start-up's multishot recv probe */
	TAG_RECV_CANCEL, /* cancel of a connection's recv (buffer cap, or failing with a direct descriptor) */
	TAG_CLOSE, /* close of a direct descriptor */
	TAG_TICK, /* a periodic wake-up: bufferStarvation's deadline, or a look for stuck sends */
	TAG_SEND_CANCEL, /* cancel of a send stuck on a peer that does not read (spill) */
	TAG_ACCEPT_CANCEL, /* cancel of the multishot accept: the file table has few free slots */
	TAG_READY, /* server.recvOnReady: a connection's POLLIN poll (its recvs go inline, see issue_ready) */
	TAG_READY_CANCEL, /* cancel of that poll (the connection is closing) */
};

/* A received byte range a connection holds: part of one provided buffer (a plain ring's buffer
 * is one piece; an incremental buffer can be cut in many, for several connections). */
struct piece {
	uint32_t bid, off, len;
	int32_t next; /* next in its FIFO (or the free list), -1 at the end */
	unsigned char *spill; /* PIECE_SPILL: the copied bytes, its own allocation */
};
/* piece.bid of bytes copied out of the pool into memory of their own (piece.spill). */
#define PIECE_SPILL UINT32_MAX

struct conn {
	int fd;               /* the socket, or with direct descriptors its index in the ring's file table */
	uint32_t slot;        /* index in echo_state.conns, its user_data index */
	unsigned recv_armed : 1;
	unsigned recv_turn : 1;      /* its recv is a one-shot turn: others were starved when it was armed */
	unsigned yielding : 1;       /* its multishot recv is being cancelled so the starved go first */
	unsigned send_inflight : 1; /* a send, or a SEND_ZC's notification, is still to come */
	unsigned eof : 1;     /* peer finished sending: flush the FIFO, then close */
	unsigned failed : 1;  /* socket error: drop the FIFO, close */
	unsigned starved : 1; /* on the starved list, waiting for buffers */
	unsigned dirty : 1;   /* listed in echo_state.dirty: the FIFO may need a send */
	unsigned defer : 1;   /* last recv CQE: more data already queued on the socket */
	unsigned capped : 1;  /* holds more than the per-connection cap: recv stopped until it drains */
	unsigned cancel_inflight : 1; /* a TAG_RECV_CANCEL for its recv is still to complete */
	unsigned recv_cancelled : 1;  /* its live recv was cancelled by us: -ECANCELED is no error */
	unsigned send_cancelled : 1;  /* its stuck send was cancelled by us: copy the FIFO out when it ends */
	unsigned zc_sent : 1;         /* its SEND_ZC in flight transmitted bytes (its notification counts) */
	unsigned notif_pending : 1;   /* its SEND_ZC completed; only the notification is still to come */
	unsigned send_is_zc : 1;      /* the send in flight is a SEND_ZC / SENDMSG_ZC */
	unsigned send_quiet : 1;      /* the send in flight posts a CQE only if it falls short (settle_quiet_sends) */
	unsigned send_must_wait : 1;  /* a quiet send fell short: the next send waits for room (and posts its CQE) */
	unsigned poll_armed : 1;      /* server.recvOnReady: its POLLIN poll is armed */
	unsigned poll_cancel_inflight : 1; /* ... and a TAG_READY_CANCEL for it is still to complete */
	unsigned ready_queued : 1;    /* listed in echo_state.ready: a recv goes out at the next trip */
	uint32_t last_recv;   /* bytes its last recv took: what issue_ready expects its next one to take */
	int q_head, q_tail;   /* FIFO of pieces (indexes in echo_state.pieces), -1 when empty */
	unsigned head_off;    /* bytes of the head piece already sent */
	int hold_head, hold_tail; /* pieces a SEND_ZC sent, held until its notification */
	size_t held_bytes;    /* ... their bytes and count: they pin buffers as much as the FIFO */
	unsigned held_pieces;
	unsigned zc_charge;   /* pool pieces its SEND_ZC in flight counts against echo_state.zc_budget */
	unsigned send_pieces; /* FIFO pieces, from the head, the send in flight was given */
	unsigned zc_unconfirmed; /* SEND_ZC reports of "not copied" not yet counted (conn_on_send) */
	size_t queued_bytes;  /* bytes in the FIFO not yet sent */
	unsigned queued_pieces;
	size_t burst_bytes, last_burst; /* received since the last send was issued; the last such burst */
	uint32_t sends_issued, sends_at_scan; /* a send in flight across two looks is stuck */
	unsigned send_sqpos;  /* a quiet send's position in the SQ (the kernel has it once its SQ head passed) */
	uint32_t send_bytes;  /* ... and its length: what a silent success sent */
	struct conn_echo echo; /* bytes in and echoed, accept ordinal (server.h) */
	struct conn *starved_prev, *starved_next;
	struct conn *free_next;
	/* sendmsg state; must stay put while the send is in flight (with SQPOLL
	 * the kernel reads it after io_uring_submit returned). */
	struct msghdr msg;
	struct iovec iov[SEND_IOV_MAX];
};

struct echo_state {
	struct io_uring ring;
	int ring_ok;
	struct server *pub;
	int listen_fd;

	struct buffer_ring bufs;
	struct piece *pieces; /* grows (doubling) when an incremental ring cuts buffers finer */
	unsigned npieces;
	int32_t piece_free;   /* free list of pieces, -1 when empty */

	/* The receive and send path as they took effect (a refused knob is off here). */
	int multishot, bundle, send_zc, direct;
	/* server.recvOnReady: a poll per connection says when data is there, and the loop sends its
	 * recv inline, a few connections per trip (issue_ready), instead of an armed recv that the
	 * kernel runs from task work. `ready` lists the connections whose poll fired (FIFO, each
	 * at most once: its ready_queued bit), cap_conns entries. */
	int recv_on_ready;
	uint32_t *ready;
	unsigned ready_head, nready;
	/* Direct descriptors: the file table's slots and how many hold a socket (accepted, not yet
	 * closed). A direct accept with no free slot takes the connection off the backlog and
	 * then fails ENFILE, losing the client: accepts go one at a time once few slots are free
	 * and stop when none is (arm_accept), resuming as a close frees one. */
	unsigned direct_slots, direct_used;
	int accept_multishot; /* the accept in flight is the multishot one */
	int accept_paused;    /* no accept in flight: the table is full (re-armed by a slot's close) */
	int fixed_bufs;       /* the pool is registered (io_uring_register_buffers) */
	size_t fixed_chunk;   /* bytes per registered iovec (the pool in <= 1 GiB chunks of whole buffers) */
	size_t cap_bytes;     /* per-connection cap of held bytes ... */
	unsigned cap_pieces;  /* ... and held pieces (so an incremental pool cannot be pinned by crumbs) */
	unsigned sends_inflight; /* sends (and SEND_ZC notifications) still to complete */
	/* Pool pieces SEND_ZCs may pin at once, and how many they pin now. A SEND_ZC's memory is
	 * the kernel's until its peer reads: past the budget a send goes as a copying send, which
	 * spill_stuck can take back from a peer that does not read. */
	unsigned zc_budget, zc_held;
	uint64_t bufs_in_use_shown; /* what bufs_in_use last said for this server */
	uint64_t bufs_in_ring_shown; /* ... and bufs_in_ring */

	int no_iowait;      /* waits go without iowait marking (IORING_ENTER_NO_IOWAIT) */
	unsigned inflight;  /* requests that will still post a final CQE */
	int stopping;
	struct __kernel_timespec accept_backoff; /* read by the kernel while the timeout is armed */

	/* Fault injection as this loop applies it (server.h's toggles, read once per iteration). */
	int punt;        /* ioWqPunt: sends go with IOSQE_ASYNC */
	int withholding; /* bufferStarvation: returned buffers stay unpublished (bufs.pending) */
	int tick_armed;  /* a TAG_TICK timeout is in flight */
	int tick_fired;  /* it fired since the last look for stuck sends */
	unsigned avail_at_tick; /* buffers available at that last look (none came back since: stalled) */
	struct __kernel_timespec tick_ts; /* read by the kernel while the tick is armed */

	struct conn *free_conns;
	struct conn *starved, *starved_tail; /* FIFO: first starved, first re-armed */
	struct conn **conns; /* every conn ever allocated, by slot, for lookups and teardown */
	unsigned nconns, cap_conns;
	/* Slots whose FIFO may need a send, in the order they got data; sent after the reaping
	 * loop. A conn is listed at most once (its dirty bit), so cap_conns entries suffice. */
	uint32_t *dirty;
	unsigned ndirty;
	/* Connections the last reap gave data to send (ndirty before flush_dirty): what
	 * server.minWaitUs counts as a batch. CQEs would not do: one connection's large echo
	 * comes in many CQEs, and waiting for more of them only stalls its own transfer. */
	unsigned last_batch_conns;
	/* Quiet sends (MSG_DONTWAIT | MSG_WAITALL with IOSQE_CQE_SKIP_SUCCESS, where
	 * probe_quiet_sends found the kernel keeps that contract): issued inline, they have ended by
	 * the time the enter that submitted them returns, and only one that fell short posts a CQE.
	 * Slots with one in flight are listed here until settle_quiet_sends counts them as sent. */
	int quiet_ok;
	uint32_t *quiet;
	unsigned nquiet;
};

/* uring_echo_conn.c: a connection's echo path. */
size_t echo_link_bytes(const struct server_config *cfg);
size_t echo_conn_state_bytes(unsigned nconns);
/* The receive path's state over a created buffer ring (pieces, caps); 0 or -ENOMEM. */
int echo_recv_path_init(struct echo_state *st);
/* Hands back what one recv completion that nobody keeps (the start-up probe) used. */
void echo_recv_discard(struct echo_state *st, int res, unsigned cqe_flags);
/* A server error, counted in `errors` and by what failed. */
void echo_error(struct echo_state *st, enum server_err_op op);
/* Publishes the buffer gauge (bufs_in_use) after a reaping loop. */
void echo_gauges(struct echo_state *st);
struct conn *conn_alloc(struct echo_state *st);
void conn_arm_recv(struct echo_state *st, struct conn *c);
void conn_on_recv(struct echo_state *st, struct conn *c, const struct io_uring_cqe *cqe);
void conn_on_send(struct echo_state *st, struct conn *c, const struct io_uring_cqe *cqe);
void conn_on_cancel(struct echo_state *st, struct conn *c);
/* server.recvOnReady: the poll's completion, its cancel's, and the trip's inline recvs. */
void conn_on_ready(struct echo_state *st, struct conn *c, const struct io_uring_cqe *cqe);
void conn_on_ready_cancel(struct echo_state *st, struct conn *c);
void issue_ready(struct echo_state *st);
void flush_dirty(struct echo_state *st);
void settle_quiet_sends(struct echo_state *st);
void rearm_starved(struct echo_state *st);
/* uring_echo.c: a TAG_TICK wake-up in 10 ms, unless one is armed. */
void echo_arm_tick(struct echo_state *st);
/* Errors that are just the peer going away or our own cancellation. */
int echo_benign(int res);

/* uring_echo_listen.c: the listening side. */
int probe_multishot_recv(struct echo_state *st);
/* 0 when the kernel keeps the quiet-send contract, else the errno to refuse it with. */
int probe_quiet_sends(struct echo_state *st);
int listen_socket(struct echo_state *st, enum start_step *step);
void arm_accept(struct echo_state *st);
void on_accept(struct echo_state *st, const struct io_uring_cqe *cqe);
void on_accept_retry(struct echo_state *st);
/* A direct descriptor's close completed: its slot is free (an accept paused on a full table goes on). */
void on_direct_closed(struct echo_state *st);

#endif
