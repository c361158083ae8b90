/* The servers the engine can run, by engine name. */
#include "core/server.h"
#include "servers/epoll_echo.h"
#include "servers/uring_echo.h"

const struct server_ops *server_ops_for(enum server_engine engine)
{
	switch (engine) {
	case SERVER_ENGINE_IO_URING:
		return &uring_echo_server_ops;
	case SERVER_ENGINE_EPOLL:
		return &epoll_echo_server_ops;
	}
	return NULL;
}
