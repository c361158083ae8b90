/* memory: the layouts shared by memory.bpf.c and the reader. */
#ifndef URING_LAB_PROBES_MEMORY_H
#define URING_LAB_PROBES_MEMORY_H

enum mem_kind { MEM_DIRECT_RECLAIM, MEM_MEMCG_RECLAIM, MEM_COMPACTION, MEM_KINDS };

/* Per-CPU counters (one entry), cumulative since load: the reader reports deltas. */
struct mem_counters {
	unsigned long long ns[MEM_KINDS], count[MEM_KINDS];
	unsigned long long engine_ns; /* of ns[], what threads of the watched tgid spent */
};

/* Reclaim + compaction time of one task (keyed by pid), cumulative since its entry was made. */
struct mem_task {
	unsigned long long ns;
	char comm[16];
};

#endif
