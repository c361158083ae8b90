/* Start-up handshake: the engine waits until every thread it started has reported (up, or failed). */
#ifndef URING_LAB_CORE_LATCH_H
#define URING_LAB_CORE_LATCH_H

#include <pthread.h>

struct latch {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int pending;
};

static inline void latch_init(struct latch *l, int n)
{
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	l->pending = n;
}

static inline void latch_count_down(struct latch *l)
{
	pthread_mutex_lock(&l->mu);
	if (--l->pending <= 0)
		pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

static inline void latch_wait(struct latch *l)
{
	pthread_mutex_lock(&l->mu);
	while (l->pending > 0)
		pthread_cond_wait(&l->cv, &l->mu);
	pthread_mutex_unlock(&l->mu);
}

static inline void latch_destroy(struct latch *l)
{
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
}

#endif
