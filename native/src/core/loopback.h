/* Sockets on 127.0.0.1, where the server listens and the load connects (the lab's only topology). */
#ifndef URING_LAB_CORE_LOOPBACK_H
#define URING_LAB_CORE_LOOPBACK_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>

#include "start_step.h"

static inline struct sockaddr_in loopback_addr(uint16_t port)
{
	struct sockaddr_in addr;

	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons(port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return addr;
}

/* A close-on-exec TCP socket with one boolean option set (level, option); the fd or -errno. */
static inline int tcp_socket(int level, int option)
{
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, level, option, &one, sizeof(one));
	return fd;
}

/*
 * The server's listening socket on 127.0.0.1:port (0: ephemeral), reusable right after the
 * previous run's TIME_WAITs (SO_REUSEADDR). Stores the fd in *fd as soon as it exists (the
 * caller closes it whatever happens) and the bound port in *bound_port; 0 or -errno, with
 * *step naming the call that failed.
 */
static inline int loopback_listen(uint16_t port, int nonblocking, int *fd, int *bound_port, enum start_step *step)
{
	struct sockaddr_in addr = loopback_addr(port);
	socklen_t len = sizeof(addr);

	*step = STEP_SERVER_SOCKET;
	*fd = tcp_socket(SOL_SOCKET, SO_REUSEADDR);
	if (*fd < 0)
		return *fd;
	if (nonblocking && fcntl(*fd, F_SETFL, O_NONBLOCK))
		return -errno;

	*step = STEP_SERVER_BIND;
	if (bind(*fd, (struct sockaddr *)&addr, sizeof(addr)))
		return -errno;

	*step = STEP_SERVER_LISTEN;
	if (listen(*fd, SOMAXCONN))
		return -errno;
	if (getsockname(*fd, (struct sockaddr *)&addr, &len))
		return -errno;
	*bound_port = ntohs(addr.sin_port);
	return 0;
}

#endif
