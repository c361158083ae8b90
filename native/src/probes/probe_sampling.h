/*
 * Time-sampled attachment of the per-request probes (issue 9): uring_latency's submit, task-work
 * and completion programs and softirq's entry, exit and NAPI poll programs run on every request
 * or packet, and even sending foreign events away cheaply they cost ~1 µs per echo request, most
 * of it the tracepoints' own dispatch. A detached tracepoint costs nothing (its static key is
 * off), so a thread of this process keeps them detached except for one window per period (at
 * least a frame; longer where switching is dear: adapt_period) at a random offset in it, like a
 * sampling profiler in time: the windows never lock to a periodic behaviour of the workload. It
 * creates the programs' links from the program fds before the window (BPF_RAW_TRACEPOINT_OPEN,
 * one at a time; the fd is the capability, so an unprivileged engine holding the helper's fds
 * can do it), opens the window the programs read (a map flag: outside it they count nothing),
 * closes it, then closes the links; the time between the opening and the closing (clock_gettime
 * at both) is what the frame's observed share says.
 *
 * What the windows see: counts (submissions, completions, softirq entries and time, NAPI polls)
 * are those of the attached time only; latency samples are legs that started and ended inside a
 * window (a leg longer than a window is seen less often the longer it is: the window length is
 * reported). Kept attached the whole time: uring_latency's io_uring_create program (ring
 * classification must see every ring's creation) and every other probe.
 */
#ifndef URING_LAB_PROBES_PROBE_SAMPLING_H
#define URING_LAB_PROBES_PROBE_SAMPLING_H

#include <stddef.h>
#include <stdint.h>

#include "probe_loader.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One window per period: at least the frame's default interval (so each frame holds at most
 * about one window), longer where attaching and detaching cost more than
 * PROBE_SAMPLING_SWITCH_BUDGET of a CPU (probe_sampling.c: adapt_period), at most 5 s. The
 * budget is for the switching thread's own CPU, which understates what switching costs: the
 * text patching's IPIs stall every other CPU too. On the 2-vCPU VM (50 × 128 B, load pinned to
 * the other CPU; npm run bench:probes) 10 windows a second cost -28 % throughput and +148 % p99
 * with the load's CPU per request +18 %, while the switching thread used ~2.3 % of a CPU: in
 * proportion ~1 window a second (the old 0.25 % budget) costs about -3 % and +15 % p99, one in
 * ~4.6 s (this budget) a fifth of that. The duty, and so the number of requests timed per
 * second, is the same at any period: the windows are longer and fewer. */
#define PROBE_SAMPLING_PERIOD_NS 100000000ull
#define PROBE_SAMPLING_MAX_PERIOD_NS 5000000000ull
#define PROBE_SAMPLING_SWITCH_BUDGET 0.0005
/* The smallest duty: 0.1 ms of a 100 ms period. A window loses nothing to attaching (it opens
 * once every link is in place), but a shorter one would hold too few requests to time any. Why
 * small duties matter: in a closed loop the requests inside a window are the slow ones, and p99
 * does not move only while they are well under 1 % of all requests. */
#define PROBE_SAMPLING_MIN_DUTY 0.001
/* Attaches (and detaches) are spread this far apart (probe_sampling.c: open_links); all of them
 * take about the span, which the window's random offset leaves room for where the duty allows. */
#define PROBE_SAMPLING_SWITCH_GAP_NS 1000000ull
#define PROBE_SAMPLING_SWITCH_SPAN_NS (12 * PROBE_SAMPLING_SWITCH_GAP_NS)

struct probe_sampling;

/*
 * Counts the engine's client requests completed so far (cumulative); 0 with the count in
 * *count and the run it counts in *run (two readings of different runs are not subtracted: probes
 * kept across a stop see the next run's count start again), or a negative errno when there is
 * none to read (no run). Read at each window's
 * opening and closing: the requests the window saw are the denominator of the per-request
 * ratios of the observed time. Time share × all requests is not: the attached probes slow every
 * request they see, so a window holds fewer requests than its share of the time (a third to
 * four fifths of it at 8 connections here: completions per request read 0.28–0.79 instead of
 * the 1.0 measured at duty 1).
 */
typedef int (*probe_sampling_meter)(uint64_t *count, uint64_t *run);

/* Whether a program of `probe` is attached only in the windows (the per-request hot paths). */
int probe_sampling_is_sampled(int probe, const char *program);

/*
 * Takes the sampled programs' links out of `set` (re-creating one first, to learn that this
 * process may), detaches them and starts the window thread for `duty` (PROBE_SAMPLING_MIN_DUTY
 * … <1); `meter` (may be NULL) counts the requests of the windows. NULL with the reason in `why`
 * when a link cannot be re-created: `set` is then untouched (the programs stay attached all the
 * time) and the caller decides.
 */
struct probe_sampling *probe_sampling_start(struct probe_set *set, double duty, probe_sampling_meter meter, char *why, size_t size);

struct probe_sampling_stats {
	uint64_t observed_ns;  /* attached time, cumulative since the start, up to `now_ns` */
	uint64_t windows;      /* windows completed */
	uint64_t attach_errors; /* windows not opened because a link could not be created */
	uint64_t window_ns;    /* the nominal window: duty × period */
	uint64_t period_ns;    /* the current period (adaptive: probe_sampling.c, adapt_period) */
	uint64_t switch_cpu_ns; /* CPU time of attaching and detaching, cumulative (the window thread's) */
	/* Requests the meter counted inside windows, cumulative (an open window's up to now);
	 * metered 0 without a meter. A window whose either reading failed (no run) adds nothing. */
	uint64_t observed_requests;
	int metered;
	char last_error[PROBE_TEXT]; /* the last attach error, "" when none */
};
/* What the thread has observed until `now_ns` (CLOCK_MONOTONIC); a window open now counts to now. */
void probe_sampling_read(struct probe_sampling *s, uint64_t now_ns, struct probe_sampling_stats *out);

/* Stops the thread, closes any link it holds (everything detached on return) and frees `s`. */
void probe_sampling_stop(struct probe_sampling *s);

#ifdef __cplusplus
}
#endif
#endif
