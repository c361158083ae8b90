/*
 * memoryPressure's child: joins its memory cgroup (limit INJECT_MEMCG_LIMIT_BYTES) before it
 * touches anything, then reads a sparse INJECT_MEMPRESS_FILE_BYTES O_TMPFILE file in 1 MiB
 * chunks, round and round. Each read fills page cache charged to the cgroup; at the limit the
 * kernel reclaims (memcg direct reclaim) on every further read. Only clean page cache is ever
 * at the limit, never anonymous memory, so reclaim always succeeds and nothing is OOM-killed.
 * The file's blocks are holes: no disk I/O, the page cache pages are zero-filled.
 */
#include "inject/inject_child.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "inject/inject.h"

#define MEMPRESS_CHUNK (1u << 20)

/* Writes n in decimal to fd (no stdio in the child). */
static int write_decimal(int fd, long n)
{
	char buf[24];
	int i = (int)sizeof(buf);

	do {
		buf[--i] = (char)('0' + n % 10);
		n /= 10;
	} while (n && i > 0);
	return write(fd, buf + i, sizeof(buf) - (size_t)i) == (ssize_t)(sizeof(buf) - (size_t)i) ? 0 : -1;
}

void memory_pressure_child(const struct inject_child *c)
{
	int procs, fd;
	unsigned char *buf;
	off_t off = 0;

	inject_child_prologue(c);
	/* Join first: every page charged from here on is the cgroup's. */
	procs = open(c->cgroup_procs, O_WRONLY | O_CLOEXEC);
	if (procs < 0 || write_decimal(procs, (long)getpid()))
		_exit(CHILD_CGROUP_JOIN);
	close(procs);
	inject_child_ready(c);
	fd = open(c->tmp_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)INJECT_MEMPRESS_FILE_BYTES))
		_exit(CHILD_TMPFILE);
	buf = mmap(NULL, MEMPRESS_CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		_exit(CHILD_MMAP);
	while (inject_child_now_ns() < c->deadline_ns) {
		if (pread(fd, buf, MEMPRESS_CHUNK, off) < 0)
			_exit(CHILD_TMPFILE);
		off += MEMPRESS_CHUNK;
		if ((uint64_t)off >= INJECT_MEMPRESS_FILE_BYTES)
			off = 0;
	}
	_exit(CHILD_OK);
}
