/*
 * io_uring TCP echo server on its own thread: one ring, multishot accept, multishot recv into
 * a provided-buffer ring, and each received buffer sent back as is and returned to the ring
 * only once its send has completed. The engine drives it through core/server.h.
 */
#ifndef URING_LAB_SERVERS_URING_ECHO_H
#define URING_LAB_SERVERS_URING_ECHO_H

#include "core/server.h"

extern const struct server_ops uring_echo_server_ops;

#endif
