/*
 * Single-writer counters that other threads read: relaxed atomic loads and stores, never a
 * locked read-modify-write (one thread writes), never a torn 64-bit value (for the readers).
 */
#ifndef URING_LAB_CORE_COUNTERS_H
#define URING_LAB_CORE_COUNTERS_H

#include <stdint.h>

static inline void counter_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/* A high-water mark: raises *c to v if v is more (the single writer's own read decides). */
static inline void counter_raise(uint64_t *c, uint64_t v)
{
	if (v > __atomic_load_n(c, __ATOMIC_RELAXED))
		__atomic_store_n(c, v, __ATOMIC_RELAXED);
}

static inline uint64_t counter_get(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

#endif
