/*
 * What a completion belongs to, one scheme for every ring: user_data = index << 4 | tag. The
 * tag says what kind of request it was, the index which connection (0 when none). Indexes,
 * not pointers, so the scheme needs no alignment and reads the same on every architecture.
 */
#ifndef URING_LAB_CORE_USER_DATA_H
#define URING_LAB_CORE_USER_DATA_H

#include <stdint.h>

#define USER_DATA_TAG_BITS 4
#define USER_DATA_TAG_MASK ((1u << USER_DATA_TAG_BITS) - 1)

/* Tags every worker ring uses (worker.c arms and drains them); a ring's own tags start at TAG_OWN. */
enum {
	TAG_WAKE = 1,   /* the poll on the worker's eventfd: stop */
	TAG_CANCEL = 2, /* the drain's cancel-all */
	TAG_OWN = 3,
};

static inline uint64_t user_data(unsigned tag, uint32_t index)
{
	return ((uint64_t)index << USER_DATA_TAG_BITS) | tag;
}

static inline unsigned user_data_tag(uint64_t ud)
{
	return (unsigned)(ud & USER_DATA_TAG_MASK);
}

static inline uint32_t user_data_index(uint64_t ud)
{
	return (uint32_t)(ud >> USER_DATA_TAG_BITS);
}

#endif
