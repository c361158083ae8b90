/* Sockets on 127.0.0.1 (where the server listens by default and the load connects), and the TCP socket both sides make. */
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

#endif
