/* The engine's one notion of time: CLOCK_MONOTONIC in ns, and conversions to and from timespecs. */
#ifndef URING_LAB_CORE_CLOCK_H
#define URING_LAB_CORE_CLOCK_H

#include <linux/time_types.h>
#include <stdint.h>
#include <time.h>

#define NS_PER_SEC 1000000000ull
#define NS_PER_MS 1000000ull

static inline uint64_t timespec_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * NS_PER_SEC + (uint64_t)ts->tv_nsec;
}

/* For io_uring timeouts, which the kernel reads while they are armed. */
static inline struct __kernel_timespec kernel_timespec(uint64_t ns)
{
	struct __kernel_timespec ts = { .tv_sec = (long long)(ns / NS_PER_SEC), .tv_nsec = (long long)(ns % NS_PER_SEC) };
	return ts;
}

static inline uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return timespec_ns(&ts);
}

#endif
