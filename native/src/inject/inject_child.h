/*
 * The children of the process faults (inject.c forks them). A child of a multithreaded
 * process may only call async-signal-safe functions: every body here is plain system calls
 * on memory prepared before the fork, and ends with _exit.
 */
#ifndef URING_LAB_INJECT_INJECT_CHILD_H
#define URING_LAB_INJECT_INJECT_CHILD_H

#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <sys/types.h>

/* Exit codes a child uses to say which step failed (the reaper logs nothing; tests read them). */
enum inject_child_exit {
	CHILD_OK = 0,
	CHILD_ORPHANED = 10, /* the engine died before PR_SET_PDEATHSIG took effect */
	CHILD_PRCTL,
	CHILD_AFFINITY,
	CHILD_CGROUP_JOIN,
	CHILD_TMPFILE,
	CHILD_MMAP,
	CHILD_SOCKET,
};

/* Everything a child needs, filled in before the fork. */
struct inject_child {
	pid_t parent;
	const char *name;   /* comm, <= 15 chars */
	cpu_set_t cpus;
	uint64_t deadline_ns;
	const char *cgroup_procs; /* memoryPressure: the cgroup's procs file to join, else NULL */
	const char *tmp_dir;      /* memoryPressure: where the O_TMPFILE file lives */
	int ready_fd;             /* write end of the start-up pipe: one byte once set up */
};

/* Common start of every child: close inherited fds, die with the parent, name, pin. */
void inject_child_prologue(const struct inject_child *c);
uint64_t inject_child_now_ns(void);
/* Tells the parent this child is set up (named, pinned, in its cgroup): inject_start returns
 * only once every child has said so, or has died. */
void inject_child_ready(const struct inject_child *c);

/* Bodies; each runs until the deadline and calls _exit. */
void cpu_hog_child(const struct inject_child *c) __attribute__((noreturn));
void memory_pressure_child(const struct inject_child *c) __attribute__((noreturn));
void softirq_load_child(const struct inject_child *c) __attribute__((noreturn));

#endif
