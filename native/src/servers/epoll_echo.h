/*
 * The epoll baseline: a TCP echo server on its own thread with non-blocking sockets and one
 * edge-triggered epoll set, for comparing the io_uring server against the classic readiness
 * model. The engine drives it through core/server.h, exactly like the io_uring server.
 */
#ifndef URING_LAB_SERVERS_EPOLL_ECHO_H
#define URING_LAB_SERVERS_EPOLL_ECHO_H

#include "core/server.h"

extern const struct server_ops epoll_echo_server_ops;

#endif
