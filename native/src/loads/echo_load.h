/*
 * Closed-loop echo load: each load thread owns a set of connections, each sending one
 * message, waiting for the whole echo, checking it byte for byte, recording the round trip,
 * and sending the next. The engine drives it through core/load.h.
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

#endif
