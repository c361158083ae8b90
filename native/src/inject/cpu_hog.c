/* cpuHog's child: one busy loop pinned to one CPU until the deadline. */
#include "inject/inject_child.h"

#include <time.h>
#include <unistd.h>

void cpu_hog_child(const struct inject_child *c)
{
	inject_child_prologue(c);
	inject_child_ready(c);
	/* clock_gettime is async-signal-safe (vDSO): the deadline read is the whole loop. */
	while (inject_child_now_ns() < c->deadline_ns)
		;
	_exit(CHILD_OK);
}
