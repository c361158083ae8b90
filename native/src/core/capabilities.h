/* What this kernel's io_uring accepts, learned by creating throw-away rings. */
#ifndef URING_LAB_CORE_CAPABILITIES_H
#define URING_LAB_CORE_CAPABILITIES_H

#ifdef __cplusplus
extern "C" {
#endif

#define CAPABILITY_MAX_OPS 256

/* IORING_FEAT_* bits newer than liburing 2.3's header. */
#define CAPABILITY_FEAT_RECVSEND_BUNDLE (1U << 14) /* 6.10 */
#define CAPABILITY_FEAT_MIN_TIMEOUT (1U << 15)     /* 6.12 */

struct capability_probe {
	int ring_err;          /* 0 or negative errno of a plain io_uring_setup */
	int sqpoll_err;        /* IORING_SETUP_SQPOLL */
	int defer_taskrun_err; /* IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN */
	int coop_taskrun_err;  /* IORING_SETUP_COOP_TASKRUN */
	int iopoll_socket_err; /* a RECV on a socket, on an IOPOLL ring (the kernel says -EINVAL) */
	unsigned features;     /* io_uring_params.features of the plain ring */
	/*
	 * Registrations and requests a knob needs beyond setup flags, each tried for real on a
	 * throw-away ring: 0 when the kernel took it, else the negative errno it answered.
	 */
	int buf_ring_err;           /* a plain 1-entry provided-buffer ring (IORING_REGISTER_PBUF_RING) */
	int buf_ring_inc_err;       /* the same with IOU_PBUF_RING_INC (incremental consumption, 6.12) */
	int napi_err;               /* IORING_REGISTER_NAPI (6.9), then IORING_UNREGISTER_NAPI */
	int registered_buffers_err; /* io_uring_register_buffers() of one page */
	int sparse_files_err;       /* io_uring_register_files_sparse() (direct descriptors) */
	int attach_wq_err;          /* a second SQPOLL ring with IORING_SETUP_ATTACH_WQ on the first */
	int multishot_accept_err;   /* ACCEPT with IORING_ACCEPT_MULTISHOT, completed with F_MORE */
	int multishot_recv_err;     /* RECV with IORING_RECV_MULTISHOT from a buffer ring, with F_MORE */
	/* Not io_uring: lab_thread_short_slice() on a throw-away thread (the slice the measured
	 * threads ask for, Linux 6.12+): 0 when kept, -EOPNOTSUPP when the kernel ignored it. */
	int short_slice_err;
	/* Not io_uring: the server's TCP segment counts (tcp_segments.h): a sock_diag dump with
	 * tcp_info, and joining the group that tells of destroyed sockets. */
	int tcp_diag_err, tcp_destroy_err;
	int op_count;          /* entries used in op_supported */
	unsigned char op_supported[CAPABILITY_MAX_OPS];
};

void capability_probe_run(struct capability_probe *out);

/* IORING_OP_* name without the prefix, or NULL for an opcode this build does not know. */
const char *capability_op_name(int op);

#ifdef __cplusplus
}
#endif
#endif
