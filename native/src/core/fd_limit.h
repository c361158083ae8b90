/*
 * Every load connection costs two descriptors in this process (its socket and the server's
 * accepted one). The engine checks RLIMIT_NOFILE before anything starts rather than fail with
 * EMFILE from the 900th connect or, worse, from an accept (which the server could only count
 * as an error). A soft limit below the hard one is raised to the hard one, as Node itself does
 * at start-up.
 */
#ifndef URING_LAB_CORE_FD_LIMIT_H
#define URING_LAB_CORE_FD_LIMIT_H

#include "core/engine.h"

/* 0, or -EMFILE with err->at = STEP_FD_LIMIT and err->fds_* filled in. */
int fd_limit_ensure(unsigned connections, unsigned nload, unsigned nservers, unsigned reserve, struct engine_error *err);

#endif
