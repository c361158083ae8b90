// The probes' loader: see probe_loader.h.
#define _GNU_SOURCE
#include "probe_loader.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <linux/capability.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/cpu_list.h"
#include "memory.skel.h"
#include "offcpu.skel.h"
#include "profile.skel.h"
#include "runqueue.skel.h"
#include "softirq.skel.h"
#include "sqpoll.skel.h"
#include "tcp_events.skel.h"
#include "uring_calls.skel.h"
#include "uring_latency.skel.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

const char *const probe_names[PROBE_COUNT] = {
	[PROBE_URING_LATENCY] = "uring_latency", [PROBE_URING_CALLS] = "uring_calls",
	[PROBE_RUNQUEUE] = "runqueue",           [PROBE_SQPOLL] = "sqpoll",
	[PROBE_SOFTIRQ] = "softirq",             [PROBE_TCP_EVENTS] = "tcp_events",
	[PROBE_OFFCPU] = "offcpu",               [PROBE_MEMORY] = "memory",
	[PROBE_PROFILE] = "profile",
};

#define TRACEFS_ENTER_EVENT "/sys/kernel/tracing/events/syscalls/sys_enter_io_uring_enter"
#define FIX_FDS "raise the open-file limit (ulimit -n; each probe holds its maps, programs and links: ~100 descriptors for all of them, beside the run's 2 per connection), or set probes.enabled=false"
#define FIX_CAPS "run the lab as root, or grant the probe helper its capabilities: sudo setcap cap_bpf,cap_perfmon+ep uring-lab-probe-helper (add cap_sys_admin for run-time overhead stats; README: Probes)"
#define FIX_LOCKDOWN "kernel lockdown is in confidentiality mode (/sys/kernel/security/lockdown), which forbids BPF reading kernel memory: boot with lockdown=integrity or none"
#define NOTE_ENTERS_FROM_ENGINE "io_uring_enter calls come from the engine's own count: counting them in the kernel takes a syscall tracepoint, which puts every task's syscalls on the slow path (opt in with probesAttach syscallEnters)"
#define NOTE_SQPOLL_IN_RUNQUEUE "runs inside runqueue's programs (ul_rq_*, one program per scheduler event for both): its cost is counted there"
#define NOTE_OFFCPU_IN_RUNQUEUE "runs inside runqueue's sched_switch program (ul_rq_switch_b, one program per scheduler event): its cost is counted there"
#define FIX_OFFCPU_BTF "offcpu reads a blocked task's stack with bpf_get_task_stack, which needs a tp_btf program: a kernel with BTF (CONFIG_DEBUG_INFO_BTF=y) that accepts tp_btf/sched_switch"
#define FIX_PERF "perf_event_open needs CAP_PERFMON (run the lab as root, or setcap the probe helper with cap_perfmon), or sysctl kernel.perf_event_paranoid=-1 for a process without it"
#define FIX_BTF "a kernel built with CONFIG_DEBUG_INFO_BTF=y (/sys/kernel/btf/vmlinux)"

/* ---- libbpf's messages: kept so a refusal can quote its first useful line ---- */

static char libbpf_log[16384];
static size_t libbpf_log_len;

static int keep_libbpf_message(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	int n;

	if (level == LIBBPF_DEBUG || libbpf_log_len >= sizeof(libbpf_log) - 1)
		return 0;
	n = vsnprintf(libbpf_log + libbpf_log_len, sizeof(libbpf_log) - libbpf_log_len, fmt, ap);
	if (n > 0)
		libbpf_log_len += (size_t)n < sizeof(libbpf_log) - libbpf_log_len ? (size_t)n : sizeof(libbpf_log) - libbpf_log_len - 1;
	return 0;
}

/* The verifier's last complaint before its summary, else libbpf's first "failed" line. */
static void useful_log_line(char *out, size_t size)
{
	char *copy = strndup(libbpf_log, libbpf_log_len), *save = NULL, *line;
	const char *verifier = NULL, *failed = NULL;
	int in_log = 0;

	out[0] = 0;
	if (!copy)
		return;
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strstr(line, "-- BEGIN PROG LOAD LOG --")) {
			in_log = 1;
			continue;
		}
		if (strstr(line, "-- END PROG LOAD LOG --")) {
			in_log = 0;
			continue;
		}
		if (in_log) {
			/* The last line before the verifier's summary says what it refused. */
			if (strncmp(line, "processed ", 10) && strncmp(line, "verification time", 17) &&
			    strncmp(line, "stack depth", 11))
				verifier = line;
		} else if (!failed && (strstr(line, "failed") || strstr(line, "error"))) {
			failed = line;
		}
	}
	snprintf(out, size, "%s", verifier ? verifier : failed ? failed : "");
	free(copy);
}

/* ---- privileges ---- */

int probe_process_privileged(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data))
		return 0;
#define HAS(cap) ((data[(cap) / 32].effective >> ((cap) % 32)) & 1)
	return (HAS(CAP_BPF) && HAS(CAP_PERFMON)) || HAS(CAP_SYS_ADMIN);
#undef HAS
}

/* ---- BTF facts ---- */

static struct btf *vmlinux_btf_parsed;

static void parse_vmlinux_btf(void)
{
	vmlinux_btf_parsed = btf__load_vmlinux_btf();
	if (libbpf_get_error(vmlinux_btf_parsed))
		vmlinux_btf_parsed = NULL;
}

/* Parsed once per process. The probes load on libuv's pool (probesAttachAsync) while the
 * reader names enums on the JS thread: the first call from either parses it. */
static struct btf *vmlinux_btf(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, parse_vmlinux_btf);
	return vmlinux_btf_parsed;
}

/* Parameters of a tracepoint's prototype (the leading void *__data included), -1 if unknown. */
static int tracepoint_params(const char *tp)
{
	struct btf *btf = vmlinux_btf();
	char name[128];
	const struct btf_type *t;
	int id;

	if (!btf)
		return -1;
	snprintf(name, sizeof(name), "btf_trace_%s", tp);
	id = btf__find_by_name_kind(btf, name, BTF_KIND_TYPEDEF);
	if (id < 0)
		return -1;
	t = btf__type_by_id(btf, id);
	t = btf__type_by_id(btf, t->type); /* the pointer */
	if (!t || !btf_is_ptr(t))
		return -1;
	t = btf__type_by_id(btf, t->type);
	return t && btf_is_func_proto(t) ? btf_vlen(t) : -1;
}

const char *probe_btf_enum_name(const char *enum_type, const char *prefix, unsigned value)
{
	struct btf *btf = vmlinux_btf();
	const struct btf_type *t;
	const struct btf_enum *e;
	size_t plen = strlen(prefix);
	int id, i;

	if (!btf)
		return NULL;
	id = btf__find_by_name_kind(btf, enum_type, BTF_KIND_ENUM);
	if (id < 0)
		return NULL;
	t = btf__type_by_id(btf, id);
	e = btf_enum(t);
	for (i = 0; i < btf_vlen(t); i++, e++) {
		const char *n;

		if ((unsigned)e->val != value)
			continue;
		n = btf__name_by_offset(btf, e->name_off);
		if (n && !strncmp(n, prefix, plen))
			n += plen;
		return n;
	}
	return NULL;
}

/* ---- one probe: its skeleton, its variants ---- */

struct probe_desc {
	void *(*open)(void);
	void (*destroy)(void *skel);
	struct bpf_object *(*obj)(void *skel);
	/* The tgid filter, in the object's read-only data. */
	void (*set_tgid)(void *skel, unsigned tgid);
	/* What else must be set before load (map sharing, channel choice, opt-ins), or NULL. */
	void (*configure)(void *skel, const struct probe_set *set, const struct probe_load_options *o);
	/* Variant preferences tried in order: for each hook, the first letter present wins
	 * (b = tp_btf, r = raw_tp, t = classic tracepoint). */
	const char *const *variants;
};

#define SKEL_GLUE(name)                                                                         \
	static void *name##_open(void) { return name##_bpf__open(); }                           \
	static void name##_destroy(void *s) { name##_bpf__destroy(s); }                         \
	static struct bpf_object *name##_obj(void *s) { return ((struct name##_bpf *)s)->obj; } \
	static void name##_set_tgid(void *s, unsigned tgid) { ((struct name##_bpf *)s)->rodata->targ_tgid = tgid; }

SKEL_GLUE(uring_latency)
SKEL_GLUE(uring_calls)
SKEL_GLUE(runqueue)
SKEL_GLUE(sqpoll)
SKEL_GLUE(softirq)
SKEL_GLUE(tcp_events)
SKEL_GLUE(offcpu)
SKEL_GLUE(memory)

/* uring_calls: share uring_latency's ring classification when it is attached; the
 * io_uring_enter counter only when asked for (its syscall tracepoint slows every task down). */
static void configure_uring_calls(void *s, const struct probe_set *set, const struct probe_load_options *o)
{
	struct uring_calls_bpf *skel = s;
	int fd = probe_set_fd(set, PROBE_URING_LATENCY, PROBE_FD_MAP, "server_rings");

	if (!o->syscall_enters) {
		bpf_program__set_autoload(skel->progs.ul_calls_ent_t, false);
		bpf_program__set_autoload(skel->progs.ul_calls_ent_r, false);
	}

	if (fd >= 0)
		bpf_map__reuse_fd(skel->maps.server_rings, fd);
}

/* runqueue: also run sqpoll's handlers when sqpoll is asked for (see sqpoll.bpf.h). */
static void configure_runqueue(void *s, const struct probe_set *set, const struct probe_load_options *o)
{
	struct runqueue_bpf *skel = s;
	int offcpu = (o->mask >> PROBE_OFFCPU) & 1;

	(void)set;
	skel->rodata->with_sqpoll = (o->mask >> PROBE_SQPOLL) & 1;
	/* offcpu too: its handler in ul_rq_switch_b (the raw_tp program never runs it). */
	skel->rodata->with_offcpu = offcpu;
	skel->rodata->offcpu_min_ns = (__u64)o->offcpu_min_us * 1000;
	if (!offcpu)
		bpf_map__set_max_entries(skel->maps.offcpu_events, 4096); /* unused: the smallest ring */
}

static void configure_offcpu(void *s, const struct probe_set *set, const struct probe_load_options *o)
{
	(void)set;
	((struct offcpu_bpf *)s)->rodata->offcpu_min_ns = (__u64)o->offcpu_min_us * 1000;
}

static void configure_tcp_events(void *s, const struct probe_set *set, const struct probe_load_options *o)
{
	struct tcp_events_bpf *skel = s;

	(void)o;
	/* kfree_skb passes the receiving socket since 6.12: read it only where it is there. */
	skel->rodata->kfree_skb_has_rx_sk = tracepoint_params("kfree_skb") >= 5;
	skel->rodata->use_perfbuf = set->perfbuf;
	if (set->perfbuf) {
		/* compat.c's move in libbpf-tools: the same map, retyped before load. */
		bpf_map__set_type(skel->maps.tcp_events, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
		bpf_map__set_key_size(skel->maps.tcp_events, sizeof(int));
		bpf_map__set_value_size(skel->maps.tcp_events, sizeof(int));
		bpf_map__set_max_entries(skel->maps.tcp_events, libbpf_num_possible_cpus());
	}
}

static const char *const btf_then_raw[] = { "b", "r", NULL };
static const char *const btf_only[] = { "b", NULL };
/* io_uring_enter (opt-in, syscall_enters): the syscall's own tracepoint fires for it alone;
 * raw sys_enter for all. */
static const char *const calls_variants[] = { "tb", "rb", "r", NULL };

#define DESC(name, configure, v) { name##_open, name##_destroy, name##_obj, name##_set_tgid, configure, v }
static const struct probe_desc descs[PROBE_COUNT] = {
	[PROBE_URING_LATENCY] = DESC(uring_latency, NULL, btf_then_raw),
	[PROBE_URING_CALLS] = DESC(uring_calls, configure_uring_calls, calls_variants),
	[PROBE_RUNQUEUE] = DESC(runqueue, configure_runqueue, btf_then_raw),
	[PROBE_SQPOLL] = DESC(sqpoll, NULL, btf_then_raw),
	[PROBE_SOFTIRQ] = DESC(softirq, NULL, btf_then_raw),
	[PROBE_TCP_EVENTS] = DESC(tcp_events, configure_tcp_events, btf_then_raw),
	[PROBE_OFFCPU] = DESC(offcpu, configure_offcpu, btf_only),
	[PROBE_MEMORY] = DESC(memory, NULL, btf_then_raw),
	/* profile is not a tracepoint probe: load_profile() loads and attaches it. */
};

static const char *letter_name(char v)
{
	return v == 'b' ? "tp_btf" : v == 'r' ? "raw_tp" : "tracepoint";
}

/* "ul_lat_sub_b" → hook length (up to the last '_') and its variant letter. */
static int split_prog_name(const char *name, size_t *hook_len, char *letter)
{
	const char *u = strrchr(name, '_');

	if (!u || !u[1] || u[2])
		return -1;
	*hook_len = (size_t)(u - name);
	*letter = u[1];
	return 0;
}

/* Autoload, for each hook, the program of the first letter in `pref` that the hook has.
 * Programs the configure step switched off (uring_calls' classifier) stay off. Writes the
 * letters used into `used`. */
static void choose_variant(struct bpf_object *obj, const char *pref, char *used, int ndisabled, char disabled[][40])
{
	struct bpf_program *p, *q;

	used[0] = 0;
	bpf_object__for_each_program(p, obj) {
		const char *name = bpf_program__name(p);
		size_t hl, ql;
		char l, ql_letter, best = 0;
		int i, off = 0;

		for (i = 0; i < ndisabled; i++)
			off |= !strcmp(disabled[i], name);
		if (off || split_prog_name(name, &hl, &l))
			continue;
		for (const char *c = pref; *c && !best; c++) {
			bpf_object__for_each_program(q, obj) {
				const char *qn = bpf_program__name(q);

				if (!split_prog_name(qn, &ql, &ql_letter) && ql == hl && !strncmp(qn, name, hl) &&
				    ql_letter == *c)
					best = *c;
			}
		}
		bpf_program__set_autoload(p, l == best);
		if (l == best && !strchr(used, l)) {
			size_t n = strlen(used);

			used[n] = l;
			used[n + 1] = 0;
		}
	}
}

static void variant_string(const char *used, char *out, size_t size)
{
	/* A stable order: tracepoint, tp_btf, raw_tp. */
	static const char order[] = "tbr";

	out[0] = 0;
	for (const char *o = order; *o; o++) {
		if (!strchr(used, *o))
			continue;
		if (out[0])
			strncat(out, "+", size - strlen(out) - 1);
		strncat(out, letter_name(*o), size - strlen(out) - 1);
	}
}

static int add_fd(struct probe_set *s, enum probe_id probe, int kind, const char *name, int fd)
{
	struct probe_fd *f;
	int dup_fd;

	if (s->nfds >= PROBE_MAX_FDS)
		return -ENOSPC;
	dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (dup_fd < 0)
		return -errno;
	f = &s->fds[s->nfds++];
	f->fd = dup_fd;
	f->probe = (unsigned char)probe;
	f->kind = (unsigned char)kind;
	snprintf(f->name, sizeof(f->name), "%s", name);
	return 0;
}

static void drop_probe_fds(struct probe_set *s, enum probe_id probe)
{
	int i, j = 0;

	for (i = 0; i < s->nfds; i++) {
		if (s->fds[i].probe == probe)
			close(s->fds[i].fd);
		else
			s->fds[j++] = s->fds[i];
	}
	s->nfds = j;
}

static void errno_reason(int err, const char *what, char *out, size_t size)
{
	char line[PROBE_TEXT];

	useful_log_line(line, sizeof(line));
	if (line[0])
		snprintf(out, size, "%s: %s (%s)", what, strerror(err), line);
	else
		snprintf(out, size, "%s: %s", what, strerror(err));
}

/* One attempt of one variant: 0 with the fds added, or -errno with `reason` set. */
static int try_variant(enum probe_id id, const char *pref, const struct probe_load_options *o, struct probe_set *set,
		       char *used, char *reason, size_t rsize)
{
	const struct probe_desc *d = &descs[id];
	struct bpf_link *links[32];
	int nlinks = 0, err = 0, i;
	struct bpf_program *p;
	struct bpf_map *m;
	char disabled[16][40];
	int ndisabled = 0;
	void *skel;

	libbpf_log_len = 0;
	libbpf_log[0] = 0;
	skel = d->open();
	if (!skel) {
		err = errno ? -errno : -ENOMEM;
		errno_reason(-err, "open", reason, rsize);
		return err;
	}
	d->set_tgid(skel, (unsigned)o->tgid);
	if (d->configure)
		d->configure(skel, set, o);
	/* Programs configure switched off stay off whatever the variant. */
	bpf_object__for_each_program(p, d->obj(skel)) {
		if (!bpf_program__autoload(p) && ndisabled < 16)
			snprintf(disabled[ndisabled++], 40, "%s", bpf_program__name(p));
	}
	choose_variant(d->obj(skel), pref, used, ndisabled, disabled);
	err = bpf_object__load(d->obj(skel));
	if (err) {
		errno_reason(-err, "load", reason, rsize);
		goto out;
	}
	bpf_object__for_each_program(p, d->obj(skel)) {
		struct bpf_link *l;

		if (!bpf_program__autoload(p))
			continue;
		l = bpf_program__attach(p);
		if (!l) {
			char what[64];

			err = -errno;
			snprintf(what, sizeof(what), "attach %s", bpf_program__name(p));
			errno_reason(-err, what, reason, rsize);
			goto out;
		}
		links[nlinks++] = l;
		if ((err = add_fd(set, id, PROBE_FD_LINK, bpf_program__name(p), bpf_link__fd(l))) ||
		    (err = add_fd(set, id, PROBE_FD_PROG, bpf_program__name(p), bpf_program__fd(p)))) {
			snprintf(reason, rsize, "keeping the fds of %s: %s", bpf_program__name(p), strerror(-err));
			goto out;
		}
		if (nlinks == (int)(sizeof(links) / sizeof(links[0]))) {
			err = -E2BIG;
			snprintf(reason, rsize, "more programs than the loader keeps (%d)", nlinks);
			goto out;
		}
	}
	bpf_object__for_each_map(m, d->obj(skel)) {
		if (bpf_map__name(m)[0] == '.' || strchr(bpf_map__name(m), '.'))
			continue; /* .rodata: nothing to read */
		if ((err = add_fd(set, id, PROBE_FD_MAP, bpf_map__name(m), bpf_map__fd(m)))) {
			snprintf(reason, rsize, "keeping the fd of map %s: %s", bpf_map__name(m), strerror(-err));
			goto out;
		}
	}
out:
	if (err)
		drop_probe_fds(set, id);
	/* The dups keep the links (and through them programs and maps) alive. */
	for (i = 0; i < nlinks; i++)
		bpf_link__destroy(links[i]);
	d->destroy(skel);
	return err;
}

/* Kernel lockdown in confidentiality mode forbids BPF reading kernel memory: every probe fails. */
static int lockdown_confidentiality(void)
{
	char buf[128] = "";
	FILE *f = fopen("/sys/kernel/security/lockdown", "r");

	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return strstr(buf, "[confidentiality]") != NULL;
}

/* sqpoll inside runqueue's programs (configure_runqueue): its maps are runqueue's, kept under
 * sqpoll's name too for the reader. 0, or -errno. */
static int sqpoll_in_runqueue(struct probe_set *set)
{
	static const char *const maps[] = { "sqp_oncpu", "sqp_counters" };
	struct probe_status *st = &set->status[PROBE_SQPOLL];
	int i, err;

	for (i = 0; i < 2; i++) {
		int fd = probe_set_fd(set, PROBE_RUNQUEUE, PROBE_FD_MAP, maps[i]);

		if (fd < 0)
			return -ENOENT;
		if ((err = add_fd(set, PROBE_SQPOLL, PROBE_FD_MAP, maps[i], fd))) {
			drop_probe_fds(set, PROBE_SQPOLL);
			return err;
		}
	}
	st->attached = 1;
	snprintf(st->variant, sizeof(st->variant), "%s", set->status[PROBE_RUNQUEUE].variant);
	snprintf(st->reason, sizeof(st->reason), "%s", NOTE_SQPOLL_IN_RUNQUEUE);
	return 0;
}

/* offcpu inside runqueue's tp_btf sched_switch program (configure_runqueue): its maps are
 * runqueue's, kept under offcpu's name too for the reader. 0, or -errno. */
static int offcpu_in_runqueue(struct probe_set *set)
{
	static const char *const maps[] = { "offcpu_start", "offcpu_events", "offcpu_counters" };
	struct probe_status *st = &set->status[PROBE_OFFCPU];
	int i, err;

	if (strcmp(set->status[PROBE_RUNQUEUE].variant, "tp_btf"))
		return -ENOENT; /* the raw_tp program cannot read a task's stack */
	for (i = 0; i < 3; i++) {
		int fd = probe_set_fd(set, PROBE_RUNQUEUE, PROBE_FD_MAP, maps[i]);

		if (fd < 0)
			return -ENOENT;
		if ((err = add_fd(set, PROBE_OFFCPU, PROBE_FD_MAP, maps[i], fd))) {
			drop_probe_fds(set, PROBE_OFFCPU);
			return err;
		}
	}
	st->attached = 1;
	snprintf(st->variant, sizeof(st->variant), "tp_btf");
	snprintf(st->reason, sizeof(st->reason), "%s", NOTE_OFFCPU_IN_RUNQUEUE);
	return 0;
}

/*
 * profile: a BPF_PROG_TYPE_PERF_EVENT program on a software cpu-clock event per online CPU,
 * sample_freq = profile_hz. Each event is attached with a BPF link (BPF_LINK_TYPE_PERF_EVENT):
 * the link holds the perf event, so the set keeps only link fds, like every other probe, and
 * closing them (or dying) ends the sampling. Not libbpf's perf link: its destroy disables the
 * event, which would stop the sampling our dup of the link keeps alive.
 */
static void load_profile(const struct probe_load_options *o, struct probe_set *set)
{
	struct probe_status *st = &set->status[PROBE_PROFILE];
	cpu_set_t cpus;
	struct profile_bpf *skel;
	struct bpf_map *m;
	int ncpus, nattached = 0, err = 0, prog_fd, cpu;

	libbpf_log_len = 0;
	libbpf_log[0] = 0;
	if (!o->profile_hz || o->profile_hz > PROBE_MAX_PROFILE_HZ) {
		snprintf(st->reason, sizeof(st->reason), "profileHz %u is outside 1…%d", o->profile_hz, PROBE_MAX_PROFILE_HZ);
		snprintf(st->fix, sizeof(st->fix), "pass profileHz between 1 and %d (0 leaves the profile probe out)", PROBE_MAX_PROFILE_HZ);
		return;
	}
	err = cpu_list_read("/sys/devices/system/cpu/online", &cpus);
	ncpus = err ? err : CPU_COUNT(&cpus);
	if (ncpus <= 0) {
		snprintf(st->reason, sizeof(st->reason), "reading /sys/devices/system/cpu/online: %s", strerror(ncpus ? -ncpus : ENOENT));
		snprintf(st->fix, sizeof(st->fix), "mount sysfs at /sys");
		return;
	}
	skel = profile_bpf__open();
	if (!skel) {
		errno_reason(errno, "open", st->reason, sizeof(st->reason));
		snprintf(st->fix, sizeof(st->fix), "%s", FIX_BTF);
		return;
	}
	skel->rodata->targ_tgid = (unsigned)o->tgid;
	err = profile_bpf__load(skel);
	if (err) {
		errno_reason(-err, "load", st->reason, sizeof(st->reason));
		snprintf(st->fix, sizeof(st->fix), "%s", err == -EPERM || err == -EACCES ? FIX_CAPS : "report it with this reason: the verifier refused the perf_event program");
		goto out;
	}
	prog_fd = bpf_program__fd(skel->progs.ul_prof_sample_p);
	for (cpu = 0; cpu < 1024; cpu++) {
		struct perf_event_attr attr;
		int pfd, lfd;

		if (!CPU_ISSET(cpu, &cpus))
			continue;
		memset(&attr, 0, sizeof(attr));
		attr.type = PERF_TYPE_SOFTWARE;
		attr.size = sizeof(attr);
		attr.config = PERF_COUNT_SW_CPU_CLOCK;
		attr.freq = 1;
		attr.sample_freq = o->profile_hz;
		pfd = (int)syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
		if (pfd < 0) {
			if (errno == ENODEV)
				continue; /* went offline since */
			err = -errno;
			snprintf(st->reason, sizeof(st->reason), "perf_event_open (cpu-clock, CPU %d): %s", cpu, strerror(errno));
			snprintf(st->fix, sizeof(st->fix), "%s", err == -EACCES || err == -EPERM ? FIX_PERF : "a kernel with CONFIG_PERF_EVENTS");
			goto out;
		}
		lfd = bpf_link_create(prog_fd, pfd, BPF_PERF_EVENT, NULL);
		if (lfd < 0) {
			/* Kernels before 5.15: the event itself carries the program; its fd is the link. */
			if (ioctl(pfd, PERF_EVENT_IOC_SET_BPF, prog_fd)) {
				err = -errno;
				close(pfd);
				errno_reason(-err, "attach to the cpu-clock event", st->reason, sizeof(st->reason));
				snprintf(st->fix, sizeof(st->fix), "a kernel that attaches BPF programs to perf events (4.9+)");
				goto out;
			}
			lfd = pfd;
		} else {
			close(pfd); /* the link holds the event */
		}
		err = add_fd(set, PROBE_PROFILE, PROBE_FD_LINK, "ul_prof_sample_p", lfd);
		close(lfd);
		if (err) {
			snprintf(st->reason, sizeof(st->reason), "keeping the link fds: %s", strerror(-err));
			goto out;
		}
		nattached++;
	}
	if ((err = add_fd(set, PROBE_PROFILE, PROBE_FD_PROG, "ul_prof_sample_p", prog_fd))) {
		snprintf(st->reason, sizeof(st->reason), "keeping the program fd: %s", strerror(-err));
		goto out;
	}
	bpf_object__for_each_map(m, skel->obj) {
		if (bpf_map__name(m)[0] == '.' || strchr(bpf_map__name(m), '.'))
			continue;
		if ((err = add_fd(set, PROBE_PROFILE, PROBE_FD_MAP, bpf_map__name(m), bpf_map__fd(m)))) {
			snprintf(st->reason, sizeof(st->reason), "keeping the fd of map %s: %s", bpf_map__name(m), strerror(-err));
			goto out;
		}
	}
	st->attached = 1;
	snprintf(st->variant, sizeof(st->variant), "perf_event");
	snprintf(st->reason, sizeof(st->reason), "cpu-clock at %u Hz on %d CPUs", o->profile_hz, nattached);
out:
	if (err)
		drop_probe_fds(set, PROBE_PROFILE);
	profile_bpf__destroy(skel);
}

static void load_one(enum probe_id id, const struct probe_load_options *o, struct probe_set *set)
{
	struct probe_status *st = &set->status[id];
	/* note: why a preferred variant was not even tried; failure: the first variant refused. */
	char note[PROBE_TEXT] = "", failure[PROBE_TEXT] = "", failed_variant[32] = "";
	char reason[PROBE_TEXT], used[8];
	int err = -ENOENT, tracefs = access(TRACEFS_ENTER_EVENT, F_OK) == 0, tracefs_errno = tracefs ? 0 : errno;
	/* Without the opt-in enter counter uring_calls has no classic tracepoint to prefer. */
	const char *const *v = id == PROBE_URING_CALLS && !o->syscall_enters ? btf_then_raw : descs[id].variants;
	const char *force = getenv("URING_LAB_PROBE_FORCE_FALLBACK");

	if (id == PROBE_SQPOLL && set->status[PROBE_RUNQUEUE].attached && !sqpoll_in_runqueue(set))
		return;
	if (id == PROBE_OFFCPU && set->status[PROBE_RUNQUEUE].attached && !offcpu_in_runqueue(set))
		return;
	if (id == PROBE_PROFILE) {
		load_profile(o, set);
		return;
	}
	if (id == PROBE_URING_LATENCY && tracepoint_params("io_uring_complete") != 4 &&
	    tracepoint_params("io_uring_complete") >= 0) {
		snprintf(st->reason, sizeof(st->reason),
			 "io_uring_complete has the pre-6.13 prototype (scalars, not the cqe): this build reads the cqe");
		snprintf(st->fix, sizeof(st->fix), "a kernel 6.13 or newer");
		return;
	}
	/* Test hook: only the last, most basic variant (raw_tp), so tests exercise the fallback
	 * programs on a kernel where the preferred ones attach. */
	if (force && *force && strcmp(force, "0")) {
		while (v[1])
			v++;
		snprintf(note, sizeof(note), "preferred variants skipped (URING_LAB_PROBE_FORCE_FALLBACK)");
	}
	for (; *v; v++) {
		if (strchr(*v, 't') && !tracefs) {
			/* A classic tracepoint is opened by its id under tracefs, which is root-only
			 * (0700): the setcap'd helper of a normal user cannot read it. */
			if (!note[0])
				snprintf(note, sizeof(note),
					 "%s (%s): io_uring_enter counted on raw sys_enter instead, which fires for every syscall",
					 tracefs_errno == EACCES ? "tracefs not readable by this user (root-only)"
								 : "tracefs not mounted",
					 TRACEFS_ENTER_EVENT);
			continue;
		}
		err = try_variant(id, *v, o, set, used, reason, sizeof(reason));
		if (!err) {
			st->attached = 1;
			variant_string(used, st->variant, sizeof(st->variant));
			if (failure[0])
				snprintf(st->reason, sizeof(st->reason), "%s refused: %s", failed_variant, failure);
			else
				snprintf(st->reason, sizeof(st->reason), "%s", note);
			if (id == PROBE_URING_CALLS) {
				set->enters_source = !o->syscall_enters ? PROBE_ENTERS_ENGINE
						     : strchr(used, 't')  ? PROBE_ENTERS_SYSCALL_TRACEPOINT
									  : PROBE_ENTERS_RAW_SYS_ENTER;
				if (!o->syscall_enters && !st->reason[0])
					snprintf(st->reason, sizeof(st->reason), "%s", NOTE_ENTERS_FROM_ENGINE);
			}
			return;
		}
		if (!failure[0]) {
			snprintf(failure, sizeof(failure), "%s", reason);
			variant_string(used, failed_variant, sizeof(failed_variant));
		}
	}
	snprintf(st->reason, sizeof(st->reason), "%s", failure[0] ? failure : note);
	if (err == -EPERM || err == -EACCES)
		snprintf(st->fix, sizeof(st->fix), "%s", lockdown_confidentiality() ? FIX_LOCKDOWN : FIX_CAPS);
	else if (!vmlinux_btf())
		snprintf(st->fix, sizeof(st->fix), "%s", FIX_BTF);
	else if (id == PROBE_OFFCPU)
		snprintf(st->fix, sizeof(st->fix), "%s", FIX_OFFCPU_BTF);
	else
		snprintf(st->fix, sizeof(st->fix), "report it with this reason: the verifier or kernel refused every variant");
}

/*
 * libbpf (1.1) parses the kernel's BTF (5.5 MB here) once per object it loads, eight times a
 * load, each into ~10 MB of new allocations. glibc serves blocks that big with mmap and unmaps
 * them on free, or trims them off the heap's top, so every parse page-faults all of it in again:
 * ~300 of a load's ~400 ms on this VM (page faults are dear in a guest). While the probes load,
 * big blocks come from the heap and stay there between the parses (~110 ms a load); then the
 * thresholds are glibc's initial ones again and the heap is trimmed, so the process keeps none
 * of it. Setting them ends glibc's dynamic threshold in this process; the engine's big buffers
 * (rings, buffer pools) are its own mmaps, not malloc's.
 */
static void heap_keeps_big_blocks(int keep)
{
#ifdef __GLIBC__
	mallopt(M_MMAP_THRESHOLD, keep ? 64 << 20 : 128 << 10);
	mallopt(M_TRIM_THRESHOLD, keep ? 64 << 20 : 128 << 10);
	if (!keep)
		malloc_trim(0);
#else
	(void)keep;
#endif
}

void probe_load(const struct probe_load_options *o, struct probe_set *out)
{
	libbpf_print_fn_t old = libbpf_set_print(keep_libbpf_message);
	int i;

	memset(out, 0, sizeof(*out));
	out->stats_fd = -1;
	out->loaded_by = PROBE_LOADED_IN_PROCESS;
	for (i = 0; i < PROBE_COUNT; i++)
		out->status[i].requested = (o->mask >> i) & 1;
	if (!vmlinux_btf()) {
		for (i = 0; i < PROBE_COUNT; i++) {
			if (!out->status[i].requested)
				continue;
			snprintf(out->status[i].reason, PROBE_TEXT, "no kernel BTF: /sys/kernel/btf/vmlinux is missing (CO-RE needs it)");
			snprintf(out->status[i].fix, PROBE_TEXT, "%s", FIX_BTF);
		}
		libbpf_set_print(old);
		return;
	}
	out->perfbuf = o->force_perfbuf || libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) <= 0;
	heap_keeps_big_blocks(1);
	/* In probe_id order: uring_latency before uring_calls (which shares its ring
	 * classification), runqueue before sqpoll (which runs inside it when both are asked for). */
	for (i = 0; i < PROBE_COUNT; i++)
		if (out->status[i].requested)
			load_one((enum probe_id)i, o, out);
	heap_keeps_big_blocks(0);
	/* Out of descriptors (EMFILE for this process, ENFILE for the machine) fails whichever step
	 * came next (opening the object, loading, keeping the fds, a perf event) with that step's
	 * own fix ("report it", "needs tp_btf", or none): the cause is the limit, whatever the step. */
	for (i = 0; i < PROBE_COUNT; i++) {
		struct probe_status *st = &out->status[i];

		if (st->requested && !st->attached && strstr(st->reason, "Too many open files"))
			snprintf(st->fix, PROBE_TEXT, "%s", FIX_FDS);
	}
	if (out->perfbuf && !o->force_perfbuf && out->status[PROBE_TCP_EVENTS].attached &&
	    !out->status[PROBE_TCP_EVENTS].reason[0])
		snprintf(out->status[PROBE_TCP_EVENTS].reason, PROBE_TEXT,
			 "no BPF ring buffer in this kernel: events go through a per-CPU perf buffer");
	out->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (out->stats_fd < 0) {
		snprintf(out->stats_reason, sizeof(out->stats_reason),
			 "BPF_ENABLE_STATS refused: %s (run-time stats need CAP_SYS_ADMIN)", strerror(errno));
		out->stats_fd = -1;
	} else {
		int fd = fcntl(out->stats_fd, F_DUPFD_CLOEXEC, 3);

		close(out->stats_fd);
		out->stats_fd = fd;
	}
	libbpf_set_print(old);
}

void probe_set_close(struct probe_set *s)
{
	int i;

	for (i = 0; i < s->nfds; i++)
		close(s->fds[i].fd);
	s->nfds = 0;
	if (s->stats_fd >= 0)
		close(s->stats_fd);
	s->stats_fd = -1;
	for (i = 0; i < PROBE_COUNT; i++)
		s->status[i].attached = 0;
}

int probe_set_fd(const struct probe_set *s, enum probe_id probe, int kind, const char *name)
{
	int i;

	for (i = 0; i < s->nfds; i++)
		if (s->fds[i].probe == probe && s->fds[i].kind == kind && !strcmp(s->fds[i].name, name))
			return s->fds[i].fd;
	return -1;
}

void probe_set_unprivileged(struct probe_set *s, unsigned mask, const char *reason, const char *fix)
{
	int i;

	for (i = 0; i < PROBE_COUNT; i++) {
		if (!((mask >> i) & 1) || s->status[i].attached)
			continue;
		s->status[i].requested = 1;
		snprintf(s->status[i].reason, PROBE_TEXT, "%s", reason);
		snprintf(s->status[i].fix, PROBE_TEXT, "%s", fix);
	}
}
