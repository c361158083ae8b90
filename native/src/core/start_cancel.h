/*
 * Calling off a start in progress. A large run's set-up takes long (4,096 connections × 1 MiB
 * messages connect and touch 8 GiB of load buffers: ~20 s on this VM), and a SIGINT or a Stop
 * in that time waited all of it before the run could end. The set-up's long loops (buffer
 * prefault, the load's connects, a storage target's fill) poll the flag between steps and
 * unwind with -ECANCELED like any failed step. engine_start_cancel() sets it while the engine
 * is STARTING; each start clears it.
 */
#ifndef URING_LAB_CORE_START_CANCEL_H
#define URING_LAB_CORE_START_CANCEL_H

#ifdef __cplusplus
extern "C" {
#endif

extern int engine_start_cancel_flag;

static inline int start_cancelled(void)
{
	return __atomic_load_n(&engine_start_cancel_flag, __ATOMIC_RELAXED);
}

#ifdef __cplusplus
}
#endif

#endif
