/*
 * What a config will allocate (engine_memory_needs), from the functions each server and load
 * sizes its allocations with, and whether this process is charged for locked memory.
 */
#define _GNU_SOURCE
#include "core/memory_needs.h"
#include "loads/echo_load.h"

#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/engine.h"

/*
 * The kernel skips RLIMIT_MEMLOCK accounting for a ring creator capable of
 * CAP_IPC_LOCK in the initial user namespace. Capability sets are read with
 * capget; a full identity uid_map stands for "initial namespace".
 */
int memlock_exempt(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	unsigned long inside, outside, count;
	int init_ns = 0;

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data))
		return 0;
	if (!(data[CAP_TO_INDEX(CAP_IPC_LOCK)].effective & CAP_TO_MASK(CAP_IPC_LOCK)))
		return 0;
	FILE *f = fopen("/proc/self/uid_map", "re");
	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3)
		init_ns = inside == 0 && outside == 0 && count == 4294967295ul;
	fclose(f);
	return init_ns;
}

void engine_memory_needs(const struct engine_config *cfg, struct engine_memory *m)
{
	const struct server_ops *server = server_ops_for(cfg->server.engine);
	const struct load_ops *load = load_ops_for(cfg->load.kind);
	unsigned nload = load_thread_count(cfg->load.connections, cfg->load.threads);
	struct memory_needs n;
	struct rlimit rl;

	struct server_config scfg;

	memset(&n, 0, sizeof(n));
	/* Every worker (server.rings) has its own ring (CQ sized as the engine sizes it) and pool;
	 * the connections, and with them the connection state, are shared out among them. */
	engine_server_config(cfg, &scfg);
	/* workload "storage": no server and no echo load, but load.threads jobs of queue_depth
	 * blocks each (the blocks pinned too when registered: READ/WRITE_FIXED). */
	if (cfg->storage_workload) {
		unsigned jobs = cfg->load.threads < 1 ? 1 : cfg->load.threads > LOAD_THREADS_MAX ? LOAD_THREADS_MAX : cfg->load.threads;
		for (unsigned i = 0; i < jobs; i++) {
			storage_load_ops.memory(cfg->storage.queue_depth, cfg->storage.block_bytes, &n);
			if (cfg->storage.registered_buffers)
				n.memlock += mem_page_round((uint64_t)cfg->storage.queue_depth * cfg->storage.block_bytes);
		}
		server = NULL;
		load = NULL;
	}
	/* A target (uring-lab load) runs no server here: only the load allocates. */
	for (unsigned i = 0; server && !cfg->target.enabled && i < scfg.workers; i++)
		server->memory(&scfg, load_thread_conns(cfg->load.connections, scfg.workers, i), &n);
	for (unsigned i = 0; load && i < nload; i++)
		load->memory(load_thread_conns(cfg->load.connections, nload, i), cfg->load.msg_bytes, &n);
	/* load.pipeline > 1: the echo load's extra send slots (its memory op counts one). */
	if (cfg->load.kind == LOAD_ECHO && cfg->load.pipeline > 1)
		for (unsigned i = 0; load && i < nload; i++)
			echo_load_pipeline_memory(load_thread_conns(cfg->load.connections, nload, i),
						  cfg->load.msg_bytes, cfg->load.pipeline, &n);

	memset(m, 0, sizeof(*m));
	m->buffer_ring = n.buffer_ring;
	m->load_buffers = n.load_buffers;
	m->rings = n.rings;
	m->conn_state = n.conn_state;
	m->total = n.buffer_ring + n.load_buffers + n.rings + n.conn_state;
	m->memlock_exempt = memlock_exempt();
	m->memlock = m->memlock_exempt ? 0 : n.memlock;
	m->memlock_limit = UINT64_MAX;
	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		m->memlock_limit = rl.rlim_cur;
}
