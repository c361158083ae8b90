/*
 * The probes' one loader: opens each probe's skeleton, picks its program variant (tp_btf, then
 * raw_tp; uring_calls' opt-in io_uring_enter counter on the classic syscall tracepoint first;
 * sqpoll inside runqueue's programs when both are asked for), loads and attaches it, and hands back plain file descriptors (maps, programs, links) with each
 * probe's status. Plain fds are what make the two ways of loading one: in-process the engine
 * keeps them; the privileged probe helper (probe_helper.c) sends them over a Unix socket. Either
 * way the programs stay attached exactly as long as the holder keeps the link fds open: closing
 * them, or the holder dying, detaches everything.
 */
#ifndef URING_LAB_PROBES_PROBE_LOADER_H
#define URING_LAB_PROBES_PROBE_LOADER_H

#ifdef __cplusplus
extern "C" {
#endif

enum probe_id {
	PROBE_URING_LATENCY,
	PROBE_URING_CALLS,
	PROBE_RUNQUEUE,
	PROBE_SQPOLL,
	PROBE_SOFTIRQ,
	PROBE_TCP_EVENTS,
	PROBE_OFFCPU,
	PROBE_MEMORY,
	PROBE_PROFILE,
	PROBE_COUNT
};

#define PROBE_ALL_MASK ((1u << PROBE_COUNT) - 1)
/* SCM_RIGHTS takes at most 253 fds per message (SCM_MAX_FD), the stats fd included. */
#define PROBE_MAX_FDS 192
#define PROBE_TEXT 256

/* The contract's ProbeName of each probe_id. */
extern const char *const probe_names[PROBE_COUNT];

enum probe_fd_kind { PROBE_FD_MAP = 1, PROBE_FD_PROG = 2, PROBE_FD_LINK = 3 };

/* Where uring_calls' io_uring_enter count comes from. */
enum probe_enters_source {
	PROBE_ENTERS_ENGINE,             /* not counted in the kernel: the engine counts its own */
	PROBE_ENTERS_SYSCALL_TRACEPOINT, /* syscalls:sys_enter_io_uring_enter (opt-in) */
	PROBE_ENTERS_RAW_SYS_ENTER,      /* raw_syscalls sys_enter filtered on the number (opt-in, no tracefs) */
};

enum probe_loaded_by { PROBE_LOADED_NONE, PROBE_LOADED_IN_PROCESS, PROBE_LOADED_HELPER };

struct probe_status {
	int requested;
	int attached;
	char variant[32];       /* "tp_btf", "raw_tp", "tracepoint+tp_btf", ...; "" when none */
	char reason[PROBE_TEXT]; /* why not attached, or a note on a degraded attach; "" otherwise */
	char fix[PROBE_TEXT];    /* what would make it attach; "" when attached */
};

struct probe_fd {
	int fd;
	unsigned char probe; /* enum probe_id */
	unsigned char kind;  /* enum probe_fd_kind */
	char name[34];       /* the map's or program's name in the object */
};

/* Plain data but the fds: probe_helper.c sends it as is, the fds alongside (SCM_RIGHTS). */
struct probe_set {
	struct probe_status status[PROBE_COUNT];
	int nfds;
	struct probe_fd fds[PROBE_MAX_FDS];
	int stats_fd;       /* BPF_ENABLE_STATS(BPF_STATS_RUN_TIME), held while attached; -1 refused */
	char stats_reason[PROBE_TEXT];
	int perfbuf;        /* tcp_events' event channel is a perf buffer (else a ring buffer) */
	int loaded_by;      /* enum probe_loaded_by */
	int enters_source;  /* enum probe_enters_source, when uring_calls is attached */
};

struct probe_load_options {
	int tgid;           /* thread group to watch; 0 in the doctor's check (nothing of ours) */
	unsigned mask;      /* 1 << probe_id of each probe wanted */
	int force_perfbuf;  /* tcp_events: use the perf buffer even where a ring buffer exists */
	int syscall_enters; /* uring_calls: count io_uring_enter on a syscall tracepoint (opt-in:
			     * it puts every task's syscalls on the slow path); else not counted */
	unsigned offcpu_min_us; /* offcpu: blocks at least this long are sent with their stack */
	unsigned profile_hz;    /* profile: samples per second per CPU (cpu-clock perf event) */
};

#define PROBE_DEFAULT_OFFCPU_MIN_US 1000
/* As diagnose.profileHz (electron/contract/probeNames.ts: PROFILE_HZ_DEFAULT says why 49). */
#define PROBE_DEFAULT_PROFILE_HZ 49
#define PROBE_MAX_PROFILE_HZ 1000

/* Loads and attaches what `o` asks for; never fails as a whole: each status says. */
void probe_load(const struct probe_load_options *o, struct probe_set *out);

/* Closes every fd of the set (detaching its programs) and empties it. Idempotent. */
void probe_set_close(struct probe_set *s);

/* The fd of a probe's map (or program) by name, or -1. */
int probe_set_fd(const struct probe_set *s, enum probe_id probe, int kind, const char *name);

/* The calling process may load tracing programs: CAP_BPF+CAP_PERFMON (or CAP_SYS_ADMIN) effective. */
int probe_process_privileged(void);

/* Sets the reason and fix of every requested probe not attached, for a process without privileges. */
void probe_set_unprivileged(struct probe_set *s, unsigned mask, const char *reason, const char *fix);

/* Names of enum values from the kernel's BTF ("RECV" for io_uring_op 27, "TCP_INVALID_SEQUENCE"
 * for an skb_drop_reason), the prefix stripped; NULL when unknown. */
const char *probe_btf_enum_name(const char *enum_type, const char *prefix, unsigned value);

#ifdef __cplusplus
}
#endif
#endif
