/* The engine's side of the load interface; see load.h. */
#define _GNU_SOURCE
#include "core/load.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

unsigned load_thread_count(unsigned connections, unsigned threads)
{
	unsigned n = connections ? threads : 0;

	if (n > connections)
		n = connections;
	if (n > LOAD_THREADS_MAX)
		n = LOAD_THREADS_MAX;
	return n;
}

unsigned load_thread_conns(unsigned connections, unsigned nload, unsigned i)
{
	return connections / nload + (i < connections % nload);
}

int load_init(struct load *l, const struct load_ops *ops, const struct load_config *cfg,
	      const struct worker_hook *before_exit)
{
	memset(l, 0, sizeof(*l));
	l->ops = ops;
	l->cfg = *cfg;
	worker_init(&l->worker, WORKER_LOAD, before_exit);
	l->inflight_t0 = calloc(cfg->nconns ? cfg->nconns : 1, sizeof(*l->inflight_t0));
	if (!l->inflight_t0) {
		l->worker.fail.step = STEP_LOAD_ALLOC;
		l->worker.fail.err = -ENOMEM;
		return -ENOMEM;
	}
	return 0;
}

int load_start(struct load *l, struct latch *ready)
{
	return worker_start(&l->worker, &l->ops->body, l, ready);
}

void load_join(struct load *l)
{
	worker_join(&l->worker);
	free(l->inflight_t0);
	l->inflight_t0 = NULL;
}

int load_pin_self(const struct load *l, enum start_step *step)
{
	cpu_set_t set;
	int ret;

	if (l->cfg.cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(l->cfg.cpu, &set);
	*step = STEP_LOAD_CPU;
	ret = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	return -ret;
}

unsigned load_inflight(const struct load *l, uint64_t *oldest_t0)
{
	if (!l->inflight_t0) /* joined: nothing of it is in flight */
		return 0;
	/* With a pipeline a connection has several requests out: the count is the thread's gauge,
	 * the oldest is the oldest connection head. */
	unsigned n = (unsigned)__atomic_load_n(&l->outstanding, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < l->cfg.nconns; i++) {
		uint64_t t0 = __atomic_load_n(&l->inflight_t0[i], __ATOMIC_RELAXED);
		if (t0 && t0 < *oldest_t0)
			*oldest_t0 = t0;
	}
	return n;
}
