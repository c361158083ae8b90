// Start errors in words; see start_errors.h.
#include "binding/start_errors.h"

#include <arpa/inet.h>

#include <cerrno>
#include <string>

#include "binding/errno_words.h"

namespace {

struct Words {
	std::string what;
	std::string fix;
};

std::string Limit(uint64_t v)
{
	return v == UINT64_MAX ? "unlimited" : std::to_string(v);
}

Words RingSetupWords(int e, unsigned entries)
{
	std::string ring = "a server ring of " + std::to_string(entries) + " entries";
	if (e == EPERM || e == EACCES)
		return { "io_uring_setup refused to create any ring",
			 "io_uring is disabled (sysctl kernel.io_uring_disabled) or blocked by seccomp or container policy" };
	if (e == ENOMEM)
		return { "io_uring_setup could not allocate " + ring,
			 "without CAP_IPC_LOCK the rings count against RLIMIT_MEMLOCK, per user: raise ulimit -l (see "
			 "memoryNeeds().pinnedBytes) or use fewer ring entries" };
	return { "io_uring_setup refused " + ring + " even with every optional flag dropped",
		 "use a power of two between 8 and 32768 ring entries" };
}

Words BufferRingWords(int e, unsigned count)
{
	std::string ring = "a provided-buffer ring of " + std::to_string(count) + " buffers";
	if (e == ENOMEM)
		return { "kernel could not register " + ring,
			 "without CAP_IPC_LOCK the buffer ring counts against RLIMIT_MEMLOCK, per user: raise ulimit -l "
			 "(see memoryNeeds().pinnedBytes) or use fewer buffers" };
	return { "kernel refused to register " + ring,
		 "use a power of two up to 32768 buffers (provided-buffer rings need Linux 5.19)" };
}

Words FdLimitWords(const engine_error &err, unsigned connections)
{
	std::string need = std::to_string(err.fds_needed);
	std::string probes = err.fds_reserve ? ", " + std::to_string(err.fds_reserve) + " for the eBPF probes" : "";
	return { std::to_string(connections) + " load connections need " + need +
			 " file descriptors (2 per connection: the load socket and the server's accepted one, plus " +
			 std::to_string(err.fds_open) + " already open" + probes + " and the engine's own) but RLIMIT_NOFILE allows " +
			 Limit(err.fds_soft) + " (hard limit " + Limit(err.fds_hard) + ")",
		 "raise the limit before starting (ulimit -n " + need + ", or LimitNOFILE= for a service)" +
			 (err.fds_reserve ? ", set probes.enabled=false," : "") + " or use fewer connections" };
}

Words Describe(const engine_error &err, const engine_config &c)
{
	int e = -err.at.err;
	std::string port = std::to_string(c.server.port);
	char bound[INET_ADDRSTRLEN] = "127.0.0.1";
	if (c.server.bind_given)
		inet_ntop(AF_INET, &c.server.bind_addr, bound, sizeof(bound));
	std::string listen_at = std::string(bound) + ":" + port;
	std::string conns = std::to_string(c.load.connections);

	switch (err.at.step) {
	case STEP_FD_LIMIT:
		return FdLimitWords(err, c.load.connections);
	case STEP_SERVER_EVENTFD:
		return { "could not create the server's wake-up eventfd", "" };
	case STEP_SERVER_THREAD:
		return { "could not start the server thread", "check the process thread limit" };
	case STEP_SERVER_RING_SETUP:
		return RingSetupWords(e, c.server.ring.entries);
	case STEP_BUF_RING_ALLOC:
		return { "could not allocate the provided buffers (" + std::to_string(c.server.buf_count) + " buffers of " +
				 std::to_string(c.server.buf_size) + " bytes)",
			 "use fewer or smaller buffers" };
	case STEP_BUF_RING_REGISTER:
		return BufferRingWords(e, c.server.buf_count);
	case STEP_MULTISHOT_RECV:
		return { "kernel refused multishot recv with provided buffers", "the echo server needs Linux 6.0 or newer" };
	case STEP_SERVER_SOCKET:
		return { "could not create the listening socket", "" };
	case STEP_SERVER_BIND:
		return { "could not bind " + listen_at, c.server.bind_given ?
			 "use port 0 for an ephemeral port, or free the port; the address must be 0.0.0.0 or one of this host's (EADDRNOTAVAIL)" :
			 "use port 0 for an ephemeral port, or free the port" };
	case STEP_SERVER_LISTEN:
		return { "could not listen on " + listen_at, "" };
	case STEP_SERVER_SUBMIT:
		return { "could not submit the server's first requests", "" };
	case STEP_LOAD_ALLOC:
		return { "could not allocate load buffers (2 x " + std::to_string(c.load.msg_bytes) +
				 " bytes per connection, " + conns + " connections)",
			 "use fewer connections or smaller messages" };
	case STEP_LOAD_EVENTFD:
	case STEP_LOAD_THREAD:
		return { "could not start " + std::to_string(c.load.threads) + " load threads",
			 "check the process thread and file limits" };
	case STEP_LOAD_RING_SETUP:
		return { "a load thread could not create its io_uring", "" };
	case STEP_LOAD_SOCKET:
		return { "could not create " + conns + " load sockets",
			 "each connection needs two descriptors (client and server side): raise ulimit -n or use fewer "
			 "connections" };
	case STEP_LOAD_CPU:
		return { "a load thread could not be pinned to its load.cpus CPU",
			 "list CPUs this process may run on (`uring-lab doctor`), or leave load.cpus empty" };
	case STEP_LOAD_CONNECT:
		if (c.target.enabled) {
			char addr[INET_ADDRSTRLEN] = "";
			inet_ntop(AF_INET, &c.target.addr, addr, sizeof(addr));
			std::string at = std::string(addr) + ":" + std::to_string(c.target.port);
			return { "load connections could not connect to the echo server at " + at,
				 "is a server listening there? (uring-lab server, or any TCP echo server; a firewall may also refuse)" };
		}
		return { "load connections could not connect to the server on 127.0.0.1", "" };
	case STEP_STORAGE_OPEN:
		return { std::string("could not open the storage target ") + c.storage.path + (c.storage.direct ? " (O_DIRECT)" : ""),
			 c.storage.direct && e == EINVAL ? "this filesystem refuses O_DIRECT (tmpfs does): put the file on a disk, or set storage.direct to false"
			 : e == EROFS ? "its filesystem is read-only: put the file on a writable one, or read it (storage.pattern randread or read)"
			 : "check storage.path exists and this user may open it" };
	case STEP_STORAGE_FILL:
		return { "could not write the test pattern over " + std::to_string(c.storage.size_bytes >> 20) + " MiB of " + c.storage.path,
			 "free disk space in the lab's data directory, or use a smaller storage.fileSizeMiB" };
	case STEP_STORAGE_IO:
		return { std::string("the first I/O on ") + c.storage.path + " failed",
			 "O_DIRECT needs storage.blockBytes to be a multiple of the device's logical block size; check storage.*" };
	case STEP_START_CANCELLED:
		return { "the start was called off while it set up (a stop or an interrupt came first): nothing ran", "" };
	default:
		return { "engine start-up failed", "" };
	}
}

Napi::Error EngineError(Napi::Env env, const std::string &message, int e, enum start_step step, const std::string &fix)
{
	Napi::Error error = Napi::Error::New(env, message);
	error.Set("code", Napi::String::New(env, ErrnoCode(e)));
	error.Set("errno", Napi::Number::New(env, e));
	error.Set("step", Napi::String::New(env, start_step_name(step)));
	if (!fix.empty())
		error.Set("fix", Napi::String::New(env, fix));
	return error;
}

} // namespace

Napi::Error StartError(Napi::Env env, const engine_error &err, const engine_config &cfg)
{
	int e = -err.at.err;
	Words w = Describe(err, cfg);
	std::string msg = w.what + " " + ErrnoWords(e);
	if (!w.fix.empty())
		msg += "; " + w.fix;
	return EngineError(env, msg, e, err.at.step, w.fix);
}

Napi::Error BusyError(Napi::Env env, bool stopping_call)
{
	std::string msg, fix;
	switch (engine_state()) {
	case ENGINE_STARTING:
		msg = "engine is starting (startAsync in progress)";
		fix = stopping_call ? "await startAsync(), then stop" : "await startAsync(), then stop() before starting again";
		break;
	case ENGINE_STOPPING:
		msg = "engine is stopping (stopAsync in progress)";
		fix = "await stopAsync()";
		break;
	default:
		msg = "engine already running";
		fix = "call stop() first";
		break;
	}
	return EngineError(env, msg + ": " + fix, EBUSY, STEP_ENGINE_BUSY, fix);
}
