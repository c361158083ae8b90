/*
 * Echo load: each load thread owns a set of connections; each sends messages, reads the whole
 * echo, checks it byte for byte and records the round trip. Closed loop (load.mode closed):
 * load.pipeline messages outstanding per connection, each replaced when it completes. Open
 * loop (load.mode open): load.rateRps requests per second on a fixed schedule over the
 * connections (at most load.pipeline outstanding on each), latency measured from each
 * request's intended send time. A request older than load.timeoutMs abandons its connection
 * (counted in timeouts). See echo_load_request.c. The engine drives it through core/load.h.
 *
 * Round-trip timing (see echo_load_request.c): t0 is one clock read just before the
 * io_uring_submit_and_wait that really submits the request; the end is one clock read right
 * after that wait returns, shared by every CQE of the batch; the difference is rounded UP to
 * whole µs.
 */
#ifndef URING_LAB_LOADS_ECHO_LOAD_H
#define URING_LAB_LOADS_ECHO_LOAD_H

#include "core/load.h"

extern const struct load_ops echo_load_ops;
/* What load.pipeline > 1 adds to the memory op's count (pipeline - 1 more send slots). */
void echo_load_pipeline_memory(unsigned nconns, unsigned msg_bytes, unsigned pipeline, struct memory_needs *m);

#endif
