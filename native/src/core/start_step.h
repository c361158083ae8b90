/*
 * Where a start failed. The C core reports a step and a negative errno, nothing more; the
 * binding puts them into words, and the host maps a step to the profile knob to blame. The
 * names are the API (StartError.step in index.d.ts), so they live here once, as an X-macro.
 */
#ifndef URING_LAB_CORE_START_STEP_H
#define URING_LAB_CORE_START_STEP_H

#ifdef __cplusplus
extern "C" {
#endif

#define START_STEPS(X)                                                                                   \
	X(ENGINE_BUSY)       /* another start or stop owns the engine */                                 \
	X(FD_LIMIT)          /* RLIMIT_NOFILE cannot hold the connections (checked before anything opens) */ \
	X(SERVER_EVENTFD)    /* the server thread's wake-up eventfd */                                   \
	X(SERVER_THREAD)     /* pthread_create for the server thread */                                  \
	X(SERVER_RING_SETUP) /* io_uring_setup refused even the plainest server ring */                  \
	X(BUF_RING_ALLOC)    /* memory for the provided buffers */                                       \
	X(BUF_RING_REGISTER) /* IORING_REGISTER_PBUF_RING */                                             \
	X(MULTISHOT_RECV)    /* multishot recv with provided buffers (Linux 6.0) refused */              \
	X(SERVER_SOCKET)     /* the listening socket */                                                  \
	X(SERVER_BIND)                                                                                   \
	X(SERVER_LISTEN)                                                                                 \
	X(SERVER_SUBMIT)     /* the server's first submit (accept and wake-up poll) */                   \
	X(LOAD_ALLOC)        /* load threads' state and message buffers */                               \
	X(LOAD_EVENTFD)      /* a load thread's wake-up eventfd */                                       \
	X(LOAD_THREAD)       /* pthread_create for a load thread */                                      \
	X(LOAD_RING_SETUP)   /* a load thread's ring */                                                  \
	X(LOAD_SOCKET)                                                                                   \
	X(LOAD_CONNECT)                                                                                  \
	X(LOAD_CPU)          /* pinning a load thread to its load.cpus CPU */                          \
	X(STORAGE_OPEN)      /* the storage target: open, fstat, size (no such file, not permitted, O_DIRECT refused) */ \
	X(STORAGE_FILL)      /* writing the pattern over the lab's test file (ENOSPC) */                 \
	X(STORAGE_IO)        /* a storage job's first I/O failed (other than IOPOLL's EOPNOTSUPP) */ \
	X(START_CANCELLED)   /* called off while it set up (engine_start_cancel; core/start_cancel.h) */

enum start_step {
	STEP_NONE = 0,
#define START_STEP_ENUM(name) STEP_##name,
	START_STEPS(START_STEP_ENUM)
#undef START_STEP_ENUM
};

/* "SERVER_RING_SETUP" for STEP_SERVER_RING_SETUP; "NONE" for STEP_NONE. */
static inline const char *start_step_name(enum start_step step)
{
	static const char *const names[] = {
		"NONE",
#define START_STEP_NAME(name) #name,
		START_STEPS(START_STEP_NAME)
#undef START_STEP_NAME
	};
	unsigned i = (unsigned)step;

	return i < sizeof(names) / sizeof(names[0]) ? names[i] : "NONE";
}

struct start_error {
	enum start_step step;
	int err; /* negative errno; 0: no failure */
};

#ifdef __cplusplus
}
#endif

#endif
