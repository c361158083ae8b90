// Time-sampled attachment of the per-request probes: see probe_sampling.h.
#define _GNU_SOURCE
#include "probe_sampling.h"
#include "softirq.h"
#include "uring_latency.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define MAX_SAMPLED 8

struct sampled_prog {
	int prog_fd;     /* our dup of the set's program fd */
	int btf;         /* tp_btf: the tracepoint is in the program (attach by fd alone) */
	char tp[64];     /* raw_tp: the tracepoint's name */
	char name[34];
	int link;        /* -1 while detached */
};

struct probe_sampling {
	struct sampled_prog progs[MAX_SAMPLED];
	int nprogs;
	int lat_window_fd;    /* uring_latency's window (struct lat_window), -1 without uring_latency */
	int softirq_window_fd; /* softirq's (struct softirq_window), -1 without softirq */
	int softirq_start_fd; /* softirq's per-CPU entry stamps, -1 without softirq */
	int ncpus;
	double duty;
	int fixed_period;     /* URING_LAB_PROBE_SAMPLING_PERIOD_MS: no adaptation */
	double switch_cpu_avg; /* CPU ns per window spent switching, moving average */
	uint64_t period_ns, window_ns; /* under lock once the thread runs */
	uint64_t rng;

	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int stopping;
	/* Under lock: what probe_sampling_read reports. */
	int attached;
	uint64_t attached_since, observed_ns, windows, attach_errors;
	uint64_t switch_cpu_ns; /* this thread's CPU time attaching and detaching */
	char last_error[PROBE_TEXT];
	/* The requests of the windows (probe_sampling_meter): the count at the open window's
	 * opening (attached_requests_ok 0 when it could not be read), and the closed windows' sum. */
	probe_sampling_meter meter;
	uint64_t attached_requests, attached_run, observed_requests;
	int attached_requests_ok;
};

static const char *const sampled_programs[] = {
	/* uring_latency: submission, task-work add, completion (not io_uring_create: rare, and the
	 * ring classification must see every ring's creation) */
	"ul_lat_sub_", "ul_lat_tw_", "ul_lat_cqe_",
	/* softirq: entry, exit, NAPI poll */
	"ul_sirq_in_", "ul_sirq_out_", "ul_sirq_napi_",
	NULL,
};

int probe_sampling_is_sampled(int probe, const char *program)
{
	const char *const *p;

	if (probe != PROBE_URING_LATENCY && probe != PROBE_SOFTIRQ)
		return 0;
	for (p = sampled_programs; *p; p++)
		if (!strncmp(program, *p, strlen(*p)))
			return 1;
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct timespec ts_of(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };

	return ts;
}

/* xorshift64*: the windows' offsets need to be unpredictable to the workload, not secret. */
static uint64_t next_random(struct probe_sampling *s)
{
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 0x2545F4914F6CDD1Dull;
}

/* A fixed period from URING_LAB_PROBE_SAMPLING_PERIOD_MS (100…10000: a measurement hook, for
 * bench:probes to compare periods without a rebuild), else 0: adaptive (adapt_period). */
static uint64_t fixed_period_ns(void)
{
	const char *env = getenv("URING_LAB_PROBE_SAMPLING_PERIOD_MS");
	long ms = env && *env ? strtol(env, NULL, 10) : 0;

	return ms >= 100 && ms <= 10000 ? (uint64_t)ms * 1000000ull : 0;
}

/*
 * The period after a window whose switching took `cpu_ns` of this thread's CPU: long enough that
 * switching costs at most PROBE_SAMPLING_SWITCH_BUDGET of a CPU, never under
 * PROBE_SAMPLING_PERIOD_NS nor over PROBE_SAMPLING_MAX_PERIOD_NS. Measured: ~2.3 ms per window of
 * six tracepoints on the 2-vCPU development VM (text patching and its IPIs are slow in a VM),
 * which at 10 windows a second cost more throughput and p99 than the windows themselves; so there
 * the period settles near 4.6 s; where a window's switching takes under 50 µs it stays at 100 ms.
 * The window keeps duty × period.
 */
static void adapt_period(struct probe_sampling *s, uint64_t cpu_ns)
{
	double period;

	s->switch_cpu_avg = s->switch_cpu_avg > 0 ? 0.75 * s->switch_cpu_avg + 0.25 * (double)cpu_ns : (double)cpu_ns;
	if (s->fixed_period)
		return;
	period = s->switch_cpu_avg / PROBE_SAMPLING_SWITCH_BUDGET;
	if (period < PROBE_SAMPLING_PERIOD_NS)
		period = PROBE_SAMPLING_PERIOD_NS;
	if (period > PROBE_SAMPLING_MAX_PERIOD_NS)
		period = PROBE_SAMPLING_MAX_PERIOD_NS;
	s->period_ns = (uint64_t)period;
	s->window_ns = (uint64_t)(s->duty * period);
}

static int dup_fd(int fd)
{
	return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

static int open_link(const struct sampled_prog *p)
{
	int fd = bpf_raw_tracepoint_open(p->btf ? NULL : p->tp, p->prog_fd);

	return fd < 0 ? -errno : fd;
}

static void close_links(struct probe_sampling *s)
{
	int i;

	for (i = 0; i < s->nprogs; i++) {
		if (s->progs[i].link >= 0)
			close(s->progs[i].link);
		s->progs[i].link = -1;
	}
}

/* Opens (closed 0, stamped `opened_ns`) or closes the window the programs read. */
static void set_window(struct probe_sampling *s, int closed, uint64_t opened_ns)
{
	struct lat_window lw = { .opened_ns = opened_ns, .closed = (unsigned long long)closed };
	struct softirq_window sw = { .closed = (unsigned long long)closed };
	__u32 zero = 0;

	if (s->lat_window_fd >= 0)
		bpf_map_update_elem(s->lat_window_fd, &zero, &lw, BPF_ANY);
	if (s->softirq_window_fd >= 0)
		bpf_map_update_elem(s->softirq_window_fd, &zero, &sw, BPF_ANY);
}

/* Before a window's first attach: a softirq entry stamp a previous window left (its exit came
 * after that window closed) must not be taken for this one's. */
static void zero_softirq_starts(struct probe_sampling *s)
{
	__u64 *values;
	__u32 key;

	if (s->softirq_start_fd < 0 || !(values = calloc((size_t)s->ncpus, sizeof(__u64))))
		return;
	for (key = 0; key < 2; key++)
		bpf_map_update_elem(s->softirq_start_fd, &key, values, BPF_ANY);
	free(values);
}

static int wait_until(struct probe_sampling *s, uint64_t deadline);

/*
 * Attaches the programs one at a time, PROBE_SAMPLING_SWITCH_GAP_NS apart: each attach patches
 * its tracepoint's call sites (0.1–0.3 ms of CPU and IPIs to every CPU on a VM), and six in a row
 * would stall the CPU this thread runs on for ~1 ms, long enough to show in the load's p99. The
 * window is still closed meanwhile (the programs count nothing). 0; 1 when stopping; or -errno
 * (none left open) with the reason kept.
 */
static int open_links(struct probe_sampling *s)
{
	int i, err;

	zero_softirq_starts(s);
	for (i = 0; i < s->nprogs; i++) {
		if (i && wait_until(s, now_ns() + PROBE_SAMPLING_SWITCH_GAP_NS))
			return 1;
		err = open_link(&s->progs[i]);
		if (err < 0) {
			close_links(s);
			pthread_mutex_lock(&s->lock);
			s->attach_errors++;
			snprintf(s->last_error, sizeof(s->last_error), "attaching %s: %s", s->progs[i].name, strerror(-err));
			pthread_mutex_unlock(&s->lock);
			return err;
		}
		s->progs[i].link = err;
	}
	return 0;
}

/* Detaches them one at a time, as they were attached; all of them when stopping. */
static void close_links_spread(struct probe_sampling *s)
{
	int i, stopping = 0;

	for (i = 0; i < s->nprogs; i++) {
		if (i && !stopping)
			stopping = wait_until(s, now_ns() + PROBE_SAMPLING_SWITCH_GAP_NS);
		if (s->progs[i].link >= 0)
			close(s->progs[i].link);
		s->progs[i].link = -1;
	}
}

/* Waits until `deadline` (CLOCK_MONOTONIC ns) or a stop; 1 when stopping. */
static int wait_until(struct probe_sampling *s, uint64_t deadline)
{
	struct timespec ts = ts_of(deadline);
	int stopping;

	pthread_mutex_lock(&s->lock);
	while (!s->stopping && pthread_cond_timedwait(&s->wake, &s->lock, &ts) != ETIMEDOUT)
		;
	stopping = s->stopping;
	pthread_mutex_unlock(&s->lock);
	return stopping;
}

/*
 * The next window's length: the nominal one corrected by how far the observed time is from
 * duty × elapsed. A window ends when this thread gets a CPU again, which on a machine the load
 * keeps busy is late by a fairly steady lag: without the correction the share observed would be
 * duty + lag/period (1 % asked, ~2 % observed at 50 connections on two CPUs). Kept within a
 * quarter and twice the nominal window, so one stall does not close or double the next windows.
 */
static uint64_t next_window(struct probe_sampling *s, uint64_t started, uint64_t now)
{
	double target = s->duty * (double)(now - started);
	double want = (double)s->window_ns + (target - (double)s->observed_ns);
	double lo = (double)s->window_ns / 4, hi = (double)s->window_ns * 2;

	return (uint64_t)(want < lo ? lo : want > hi ? hi : want);
}

static void *run(void *arg)
{
	struct probe_sampling *s = arg;
	uint64_t started = now_ns(), frame = started;
	struct sched_param rt = { .sched_priority = 1 };

	/* A 1 ms window must not stretch by the default 50 µs timer slack on each side, nor wait
	 * for a CPU behind the load it watches: the lowest real-time priority where this process
	 * may have it (root; elsewhere the lag is corrected, next_window). */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	prctl(PR_SET_NAME, "uring-lab-psamp", 0, 0, 0);
	pthread_setschedparam(pthread_self(), SCHED_FIFO, &rt);
	for (;;) {
		/* Where the window and the spread attaches fit in a period several times over, anywhere
		 * in it; at high duties they fill it (the measured share says what was observed). */
		uint64_t period, window, room, offset, on, off, length, t0, t1;
		int err;

		pthread_mutex_lock(&s->lock);
		period = s->period_ns;
		window = s->window_ns;
		pthread_mutex_unlock(&s->lock);
		room = period > window + PROBE_SAMPLING_SWITCH_SPAN_NS ? period - window - PROBE_SAMPLING_SWITCH_SPAN_NS : 0;
		offset = next_random(s) % (room + 1);

		if (wait_until(s, frame + offset))
			break;
		t0 = thread_cpu_ns();
		err = open_links(s);
		if (err == 1)
			break;
		if (!err) {
			uint64_t r0 = 0, r1 = 0, run0 = 0, run1 = 0;
			int ok0, ok1;

			/* Observed: from the window's opening to its closing, as the programs see it; its
			 * requests counted from just after the opening to just after the closing (a
			 * request the meter counts is one whose completions the programs saw). */
			on = now_ns();
			set_window(s, 0, on);
			ok0 = s->meter && s->meter(&r0, &run0) == 0;
			t1 = thread_cpu_ns();
			pthread_mutex_lock(&s->lock);
			s->attached = 1;
			s->attached_since = on;
			s->attached_requests = r0;
			s->attached_run = run0;
			s->attached_requests_ok = ok0;
			length = next_window(s, started, on);
			pthread_mutex_unlock(&s->lock);
			wait_until(s, on + length);
			set_window(s, 1, on);
			off = now_ns();
			ok1 = s->meter && s->meter(&r1, &run1) == 0;
			pthread_mutex_lock(&s->lock);
			s->attached = 0;
			s->observed_ns += off - on;
			if (ok0 && ok1 && run1 == run0 && r1 > r0)
				s->observed_requests += r1 - r0;
			s->windows++;
			pthread_mutex_unlock(&s->lock);
			t0 += thread_cpu_ns() - t1; /* the window's own wait is not switching */
			close_links_spread(s);
			t1 = thread_cpu_ns();
			pthread_mutex_lock(&s->lock);
			s->switch_cpu_ns += t1 - t0;
			adapt_period(s, t1 - t0);
			pthread_mutex_unlock(&s->lock);
		}
		frame += period;
		/* Behind (a stopped process, a busy CPU): the next frame starts now, not in the past. */
		if (frame + period < now_ns())
			frame = now_ns();
	}
	close_links(s);
	return NULL;
}

static void free_sampling(struct probe_sampling *s)
{
	int i;

	close_links(s);
	for (i = 0; i < s->nprogs; i++)
		if (s->progs[i].prog_fd >= 0)
			close(s->progs[i].prog_fd);
	if (s->lat_window_fd >= 0)
		close(s->lat_window_fd);
	if (s->softirq_window_fd >= 0)
		close(s->softirq_window_fd);
	if (s->softirq_start_fd >= 0)
		close(s->softirq_start_fd);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->wake);
	free(s);
}

/* The program's tracepoint from its link (raw_tp needs the name to attach again). 0 or -errno. */
static int describe(int link_fd, struct sampled_prog *p)
{
	struct bpf_link_info li;
	struct bpf_prog_info pi;
	__u32 len = sizeof(li);

	memset(&li, 0, sizeof(li));
	li.raw_tracepoint.tp_name = (__u64)(unsigned long)p->tp;
	li.raw_tracepoint.tp_name_len = sizeof(p->tp);
	if (bpf_obj_get_info_by_fd(link_fd, &li, &len))
		return -errno;
	if (li.type != BPF_LINK_TYPE_RAW_TRACEPOINT && li.type != BPF_LINK_TYPE_TRACING)
		return -EINVAL;
	memset(&pi, 0, sizeof(pi));
	len = sizeof(pi);
	if (bpf_obj_get_info_by_fd(p->prog_fd, &pi, &len))
		return -errno;
	p->btf = pi.type == BPF_PROG_TYPE_TRACING;
	return 0;
}

struct probe_sampling *probe_sampling_start(struct probe_set *set, double duty, probe_sampling_meter meter, char *why, size_t size)
{
	struct probe_sampling *s;
	int taken[MAX_SAMPLED], i, err = 0;
	pthread_condattr_t ca;
	sigset_t all, old;

	if (!(duty >= PROBE_SAMPLING_MIN_DUTY && duty < 1)) {
		snprintf(why, size, "duty %g is outside %g…1 (1: always attached, no sampling)", duty, PROBE_SAMPLING_MIN_DUTY);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(why, size, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->wake, &ca);
	pthread_condattr_destroy(&ca);
	s->duty = duty;
	s->meter = meter;
	s->period_ns = fixed_period_ns();
	s->fixed_period = s->period_ns != 0;
	if (!s->fixed_period)
		s->period_ns = PROBE_SAMPLING_PERIOD_NS;
	s->window_ns = (uint64_t)(duty * (double)s->period_ns);
	s->lat_window_fd = -1;
	s->softirq_window_fd = -1;
	s->softirq_start_fd = -1;
	s->ncpus = libbpf_num_possible_cpus();
	if (getrandom(&s->rng, sizeof(s->rng), 0) != sizeof(s->rng) || !s->rng)
		s->rng = now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ull;

	for (i = 0; i < set->nfds && !err; i++) {
		const struct probe_fd *f = &set->fds[i];
		struct sampled_prog *p;

		if (f->kind != PROBE_FD_LINK || f->fd < 0 || !probe_sampling_is_sampled(f->probe, f->name))
			continue;
		if (s->nprogs == MAX_SAMPLED) {
			snprintf(why, size, "more sampled programs than the sampler keeps (%d)", MAX_SAMPLED);
			err = -E2BIG;
			break;
		}
		p = &s->progs[s->nprogs];
		p->link = -1;
		snprintf(p->name, sizeof(p->name), "%s", f->name);
		p->prog_fd = dup_fd(probe_set_fd(set, (enum probe_id)f->probe, PROBE_FD_PROG, f->name));
		if (p->prog_fd < 0) {
			snprintf(why, size, "no program fd for %s", f->name);
			err = -ENOENT;
			break;
		}
		taken[s->nprogs++] = i;
		if ((err = describe(f->fd, p))) {
			snprintf(why, size, "reading the link of %s: %s", f->name, strerror(-err));
			break;
		}
		/* The empirical test: a second link while the first still holds the tracepoint.
		 * Refused here means every window would be refused too. */
		err = open_link(p);
		if (err < 0) {
			snprintf(why, size, "this process may not attach %s again from its program fd (BPF_RAW_TRACEPOINT_OPEN: %s)",
				 f->name, strerror(-err));
			break;
		}
		p->link = err;
		err = 0;
	}
	if (!err && !s->nprogs) {
		snprintf(why, size, "no per-request program is attached");
		err = -ENOENT;
	}
	if (err) {
		free_sampling(s);
		return NULL;
	}
	s->lat_window_fd = dup_fd(probe_set_fd(set, PROBE_URING_LATENCY, PROBE_FD_MAP, "lat_window"));
	s->softirq_window_fd = dup_fd(probe_set_fd(set, PROBE_SOFTIRQ, PROBE_FD_MAP, "softirq_window"));
	s->softirq_start_fd = dup_fd(probe_set_fd(set, PROBE_SOFTIRQ, PROBE_FD_MAP, "softirq_start"));
	/* Closed before the loader's links go: nothing is counted until the first window opens. */
	set_window(s, 1, 0);
	/* Detached from here: our test links and the loader's go; the set keeps its entries with
	 * fd -1 (closing -1 is harmless), so nothing else holds these tracepoints. */
	close_links(s);
	for (i = 0; i < s->nprogs; i++) {
		close(set->fds[taken[i]].fd);
		set->fds[taken[i]].fd = -1;
	}
	/* The window thread takes no signal meant for the process. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&s->thread, NULL, run, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		snprintf(why, size, "starting the sampling thread: %s", strerror(err));
		free_sampling(s);
		return NULL;
	}
	return s;
}

void probe_sampling_read(struct probe_sampling *s, uint64_t now, struct probe_sampling_stats *out)
{
	uint64_t requests = 0, run = 0;
	/* Read before the lock, never under it: the meter takes the engine's lock. */
	int ok = s->meter && s->meter(&requests, &run) == 0;

	pthread_mutex_lock(&s->lock);
	out->observed_ns = s->observed_ns + (s->attached && now > s->attached_since ? now - s->attached_since : 0);
	out->observed_requests = s->observed_requests;
	if (s->attached && s->attached_requests_ok && ok && run == s->attached_run && requests > s->attached_requests)
		out->observed_requests += requests - s->attached_requests;
	out->metered = s->meter != NULL;
	out->windows = s->windows;
	out->attach_errors = s->attach_errors;
	out->window_ns = s->window_ns;
	out->period_ns = s->period_ns;
	out->switch_cpu_ns = s->switch_cpu_ns;
	snprintf(out->last_error, sizeof(out->last_error), "%s", s->last_error);
	pthread_mutex_unlock(&s->lock);
}

void probe_sampling_stop(struct probe_sampling *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	free_sampling(s);
}
