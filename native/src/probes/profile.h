/* profile: the layouts shared by profile.bpf.c and the reader. */
#ifndef URING_LAB_PROBES_PROFILE_H
#define URING_LAB_PROBES_PROFILE_H

/* Frames kept per stack (the stack map's value size): kernel and user alike. */
#define PROFILE_MAX_FRAMES 64

/* One sampled (thread, kernel stack, user stack); a stack id < 0: that side had no stack. */
struct profile_key {
	unsigned int tid;
	int kernel_stack;
	int user_stack;
	unsigned int pad;
};

struct profile_value {
	unsigned long long count;
	char comm[16];
};

/* Per-CPU counters (one entry), cumulative: samples lost (no stack at all, or a map full). */
struct profile_counters {
	unsigned long long lost;
};

#endif
