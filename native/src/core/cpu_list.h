#ifndef URING_LAB_CORE_CPU_LIST_H
#define URING_LAB_CORE_CPU_LIST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A sysfs CPU list file ("0-3,8-11\n": /sys/devices/system/cpu/online, a NUMA node's cpulist)
 * into `set` (CPUs ≥ CPU_SETSIZE are left out). 0, -errno of the open, -EIO when it could not be
 * read, -ENOENT when it names no CPU (a memory-only NUMA node's list is empty). One reader for the NUMA binding, the fault injections
 * and the profile probe.
 */
int cpu_list_read(const char *path, cpu_set_t *set);

#ifdef __cplusplus
}
#endif

#endif
