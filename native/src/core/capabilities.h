/* What this kernel's io_uring accepts, learned by creating throw-away rings. */
#ifndef URING_LAB_CORE_CAPABILITIES_H
#define URING_LAB_CORE_CAPABILITIES_H

#ifdef __cplusplus
extern "C" {
#endif

#define CAPABILITY_MAX_OPS 256

struct capability_probe {
	int ring_err;          /* 0 or negative errno of a plain io_uring_setup */
	int sqpoll_err;        /* IORING_SETUP_SQPOLL */
	int defer_taskrun_err; /* IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN */
	int coop_taskrun_err;  /* IORING_SETUP_COOP_TASKRUN */
	int iopoll_socket_err; /* a RECV on a socket, on an IOPOLL ring (the kernel says -EINVAL) */
	unsigned features;     /* io_uring_params.features of the plain ring */
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
