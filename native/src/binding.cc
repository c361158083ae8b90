// Node binding of the engine (node-addon-api, C++ exceptions enabled).
//
// This is the only place where an errno becomes words: the C core passes
// negative errnos up unchanged, tagged with the step or knob they belong to,
// and the messages below say which knob or step the kernel refused and why.
#include <napi.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>
#include <unistd.h>

#include <liburing.h>

#include "capability_probe.h"
#include "echo_server.h"
#include "engine.h"
#include "latency_histogram.h"
#include "load_generator.h"

namespace {

// The Node environment (main thread or a worker) that started the engine
// (set when a start is claimed, so an async start counts too). If it is torn
// down without stop(), its cleanup hook stops the engine, waiting for a start
// or stop in progress first, so no native thread outlives the JS that owns it.
std::atomic<napi_env> g_owner{ nullptr };

void ReleaseOwner(napi_env env)
{
	napi_env expected = env;
	g_owner.compare_exchange_strong(expected, nullptr);
}

void CleanupHook(void *arg)
{
	napi_env env = static_cast<napi_env>(arg);
	napi_env expected = env;
	if (g_owner.compare_exchange_strong(expected, nullptr)) {
		struct engine_snapshot s;
		engine_stop_settled(&s);
	}
}

// ---- errno words ---------------------------------------------------------

std::string ErrnoCode(int e)
{
	const char *name = strerrorname_np(e);
	return name ? name : "E" + std::to_string(e);
}

std::string ErrnoText(int e)
{
	char buf[256];
	// GNU strerror_r: returns the message, thread-safe.
	return strerror_r(e, buf, sizeof(buf));
}

// "(EINVAL): Invalid argument"
std::string ErrnoWords(int e)
{
	return "(" + ErrnoCode(e) + "): " + ErrnoText(e);
}

// ---- config validation -----------------------------------------------------

std::string TypeName(const Napi::Value &v)
{
	if (v.IsUndefined())
		return "undefined";
	if (v.IsNull())
		return "null";
	if (v.IsArray())
		return "array";
	switch (v.Type()) {
	case napi_boolean:
		return "boolean";
	case napi_number:
		return "number";
	case napi_string:
		return "string";
	case napi_object:
		return "object";
	case napi_function:
		return "function";
	default:
		return "value";
	}
}

[[noreturn]] void ThrowType(Napi::Env env, const std::string &path, const std::string &want, const Napi::Value &got)
{
	throw Napi::TypeError::New(env, "config." + path + " must be " + want + " (got " + TypeName(got) + ")");
}

Napi::Object GetObject(Napi::Env env, const Napi::Object &parent, const char *key, const std::string &path)
{
	Napi::Value v = parent.Get(key);
	if (!v.IsObject() || v.IsArray())
		ThrowType(env, path, "an object", v);
	return v.As<Napi::Object>();
}

double GetInteger(Napi::Env env, const Napi::Object &parent, const char *key, const std::string &path,
		  double min, double max)
{
	Napi::Value v = parent.Get(key);
	if (!v.IsNumber())
		ThrowType(env, path, "a number", v);
	double d = v.As<Napi::Number>().DoubleValue();
	if (!std::isfinite(d) || std::floor(d) != d)
		throw Napi::TypeError::New(env, "config." + path + " must be an integer (got " + std::to_string(d) + ")");
	if (d < min || d > max)
		throw Napi::RangeError::New(env, "config." + path + " must be between " + std::to_string((long long)min) +
							 " and " + std::to_string((long long)max) + " (got " +
							 std::to_string((long long)d) + ")");
	return d;
}

bool GetBool(Napi::Env env, const Napi::Object &parent, const char *key, const std::string &path)
{
	Napi::Value v = parent.Get(key);
	if (!v.IsBoolean())
		ThrowType(env, path, "a boolean", v);
	return v.As<Napi::Boolean>().Value();
}

struct Parsed {
	engine_config cfg;
	std::string taskrun;
};

Parsed ParseConfig(Napi::Env env, const Napi::Value &arg)
{
	if (!arg.IsObject() || arg.IsArray())
		throw Napi::TypeError::New(env, "config must be an object (got " + TypeName(arg) + ")");
	Napi::Object c = arg.As<Napi::Object>();
	Parsed p;
	std::memset(&p.cfg, 0, sizeof(p.cfg));

	Napi::Value port = c.Get("port");
	if (!port.IsUndefined() && !port.IsNull())
		p.cfg.port = (uint16_t)GetInteger(env, c, "port", "port", 0, 65535);

	p.cfg.ring.entries = (unsigned)GetInteger(env, c, "ringEntries", "ringEntries", 1, 32768);

	Napi::Object sq = GetObject(env, c, "sqpoll", "sqpoll");
	p.cfg.ring.sqpoll = GetBool(env, sq, "enabled", "sqpoll.enabled");
	p.cfg.ring.sqpoll_idle_ms = (unsigned)GetInteger(env, sq, "idleMs", "sqpoll.idleMs", 0, 4294967295.0);
	Napi::Value cpu = sq.Get("cpu");
	if (cpu.IsNull())
		p.cfg.ring.sqpoll_cpu = -1;
	else if (cpu.IsNumber())
		p.cfg.ring.sqpoll_cpu = (int)GetInteger(env, sq, "cpu", "sqpoll.cpu", 0, 1 << 20);
	else
		ThrowType(env, "sqpoll.cpu", "a number or null", cpu);

	Napi::Value tr = c.Get("taskrun");
	if (!tr.IsString())
		ThrowType(env, "taskrun", "'defer', 'coop' or 'default'", tr);
	p.taskrun = tr.As<Napi::String>().Utf8Value();
	if (p.taskrun == "defer")
		p.cfg.ring.taskrun = TASKRUN_DEFER;
	else if (p.taskrun == "coop")
		p.cfg.ring.taskrun = TASKRUN_COOP;
	else if (p.taskrun == "default")
		p.cfg.ring.taskrun = TASKRUN_DEFAULT;
	else
		throw Napi::TypeError::New(env, "config.taskrun must be 'defer', 'coop' or 'default' (got '" + p.taskrun + "')");

	Napi::Object br = GetObject(env, c, "bufferRing", "bufferRing");
	p.cfg.buf_size = (unsigned)GetInteger(env, br, "size", "bufferRing.size", 1, 1 << 30);
	p.cfg.buf_count = (unsigned)GetInteger(env, br, "count", "bufferRing.count", 1, 65536);

	Napi::Object load = GetObject(env, c, "load", "load");
	p.cfg.connections = (unsigned)GetInteger(env, load, "connections", "load.connections", 0, 65536);
	p.cfg.msg_bytes = (unsigned)GetInteger(env, load, "messageBytes", "load.messageBytes", 1, 1 << 30);
	p.cfg.threads = (unsigned)GetInteger(env, load, "threads", "load.threads", 1, 64);

	p.cfg.max_duration_ms = (uint64_t)GetInteger(env, c, "maxDurationMs", "maxDurationMs", 1, 1e12);
	return p;
}

// ---- start results ---------------------------------------------------------

const char *TaskrunName(taskrun_mode m)
{
	switch (m) {
	case TASKRUN_DEFER:
		return "defer";
	case TASKRUN_COOP:
		return "coop";
	default:
		return "default";
	}
}

Napi::Array FlagNames(Napi::Env env, unsigned flags)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{ IORING_SETUP_IOPOLL, "IOPOLL" },
		{ IORING_SETUP_SQPOLL, "SQPOLL" },
		{ IORING_SETUP_SQ_AFF, "SQ_AFF" },
		{ IORING_SETUP_CQSIZE, "CQSIZE" },
		{ IORING_SETUP_CLAMP, "CLAMP" },
		{ IORING_SETUP_SUBMIT_ALL, "SUBMIT_ALL" },
		{ IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN" },
		{ IORING_SETUP_TASKRUN_FLAG, "TASKRUN_FLAG" },
		{ IORING_SETUP_SINGLE_ISSUER, "SINGLE_ISSUER" },
		{ IORING_SETUP_DEFER_TASKRUN, "DEFER_TASKRUN" },
	};
	Napi::Array a = Napi::Array::New(env);
	uint32_t n = 0;
	for (const auto &f : names)
		if (flags & f.bit)
			a.Set(n++, f.name);
	return a;
}

Napi::Array FeatureNames(Napi::Env env, unsigned features)
{
	// Bits after LINKED_FILE are newer than liburing 2.3's header.
	static const char *names[] = {
		"SINGLE_MMAP", "NODROP",	 "SUBMIT_STABLE",    "RW_CUR_POS",  "CUR_PERSONALITY", "FAST_POLL",
		"POLL_32BITS", "SQPOLL_NONFIXED", "EXT_ARG",	     "NATIVE_WORKERS", "RSRC_TAGS",	   "CQE_SKIP",
		"LINKED_FILE", "REG_REG_RING",	 "RECVSEND_BUNDLE", "MIN_TIMEOUT", "RW_ATTR",	   "NO_IOWAIT",
	};
	Napi::Array a = Napi::Array::New(env);
	uint32_t n = 0;
	for (unsigned bit = 0; bit < 32; bit++) {
		if (!(features & (1u << bit)))
			continue;
		if (bit < sizeof(names) / sizeof(names[0]))
			a.Set(n++, names[bit]);
		else
			a.Set(n++, "BIT" + std::to_string(bit));
	}
	return a;
}

std::string TaskrunFlagWords(unsigned flag)
{
	if (flag & IORING_SETUP_DEFER_TASKRUN)
		return "IORING_SETUP_DEFER_TASKRUN (with SINGLE_ISSUER)";
	if (flag & IORING_SETUP_COOP_TASKRUN)
		return "IORING_SETUP_COOP_TASKRUN";
	return "the task-run flags";
}

Napi::Object Rejection(Napi::Env env, const ring_rejection &r, const Parsed &p)
{
	Napi::Object o = Napi::Object::New(env);
	int e = -r.err;
	std::string knob = r.knob;
	std::string reason, fix;

	o.Set("knob", knob);
	if (knob == "server.sqpoll.enabled") {
		o.Set("requested", true);
		reason = "kernel refused IORING_SETUP_SQPOLL " + ErrnoWords(e);
		if (e == EPERM || e == EACCES) {
			reason += "; the SQPOLL thread needs CAP_SYS_NICE on this kernel or io_uring is restricted "
				  "(kernel.io_uring_disabled, seccomp, LSM)";
			fix = "grant CAP_SYS_NICE or set server.sqpoll.enabled to false";
		} else if (e == ENOMEM || e == EAGAIN) {
			reason += "; the kernel could not create the SQPOLL thread";
			fix = "check memory and thread limits, or set server.sqpoll.enabled to false";
		} else {
			fix = "set server.sqpoll.enabled to false";
		}
		reason += "; the server runs without SQPOLL";
	} else if (knob == "server.sqpoll.cpu") {
		o.Set("requested", p.cfg.ring.sqpoll_cpu);
		long online = sysconf(_SC_NPROCESSORS_ONLN);
		reason = "kernel refused IORING_SETUP_SQ_AFF for CPU " + std::to_string(p.cfg.ring.sqpoll_cpu) + " " +
			 ErrnoWords(e);
		if (e == EINVAL)
			reason += "; that CPU is offline, does not exist or is outside this process's cpuset";
		reason += "; the SQPOLL thread runs unpinned";
		fix = "choose an online CPU in 0.." + std::to_string(online > 0 ? online - 1 : 0) +
		      " allowed to this process, or set server.sqpoll.cpu to null";
	} else if (knob == "server.taskrun") {
		o.Set("requested", p.taskrun);
		std::string what = TaskrunFlagWords(r.flag);
		if (r.cause == REJECT_CONFLICTS_WITH_SQPOLL) {
			reason = "kernel refused " + what + " together with IORING_SETUP_SQPOLL " + ErrnoWords(e) +
				 "; task-run modes apply when the application submits itself, and with SQPOLL "
				 "the kernel thread submits; running with the default task-run mode";
			fix = "set server.taskrun to 'default' when server.sqpoll.enabled is true";
		} else {
			reason = "kernel refused " + what + " " + ErrnoWords(e);
			if (e == EINVAL)
				reason += "; this kernel does not support it (COOP_TASKRUN needs Linux 5.19, "
					  "DEFER_TASKRUN 6.1)";
			reason += "; running with the default task-run mode";
			fix = "set server.taskrun to 'default'";
		}
	} else {
		o.Set("requested", Napi::Env(env).Null());
		reason = "kernel refused " + knob + " " + ErrnoWords(e);
	}
	o.Set("errno", e);
	o.Set("code", ErrnoCode(e));
	o.Set("reason", reason);
	if (!fix.empty())
		o.Set("fix", fix);
	return o;
}

// ---- start errors -------------------------------------------------------------

struct StartFailure {
	std::string knob;
	std::string what;
	std::string fix;
};

StartFailure DescribeFailure(const engine_error &err, const Parsed &p)
{
	int e = -err.err;
	const engine_config &c = p.cfg;
	StartFailure f;

	if (!err.in_load) {
		switch ((server_step)err.step) {
		case SERVER_STEP_EVENTFD:
			f = { "server", "could not create the server's wake-up eventfd", "" };
			break;
		case SERVER_STEP_THREAD:
			f = { "server", "could not start the server thread", "check the process thread limit" };
			break;
		case SERVER_STEP_RING_SETUP:
			if (e == EPERM || e == EACCES)
				f = { "server", "io_uring_setup refused to create any ring",
				      "io_uring is disabled (sysctl kernel.io_uring_disabled) or blocked by seccomp or "
				      "container policy" };
			else if (e == ENOMEM)
				f = { "server.ringEntries",
				      "io_uring_setup could not allocate a ring of server.ringEntries=" +
					      std::to_string(c.ring.entries),
				      "without CAP_IPC_LOCK the rings count against RLIMIT_MEMLOCK, per user: raise "
				      "ulimit -l (see memoryNeeds().pinnedBytes) or use fewer ring entries" };
			else
				f = { "server.ringEntries",
				      "io_uring_setup refused a ring of server.ringEntries=" + std::to_string(c.ring.entries) +
					      " even with every optional flag dropped",
				      "use a power of two between 8 and 32768" };
			break;
		case SERVER_STEP_BUF_RING_ALLOC:
			f = { "server.bufferRing.count",
			      "could not allocate the provided buffers (server.bufferRing.count=" +
				      std::to_string(c.buf_count) + " x server.bufferRing.size=" + std::to_string(c.buf_size) +
				      " bytes)",
			      "use fewer or smaller buffers" };
			break;
		case SERVER_STEP_BUF_RING_REGISTER:
			if (e == ENOMEM) {
				f = { "server.bufferRing.count",
				      "kernel could not register a provided-buffer ring of server.bufferRing.count=" +
					      std::to_string(c.buf_count) + " buffers",
				      "without CAP_IPC_LOCK the buffer ring counts against RLIMIT_MEMLOCK, per user: "
				      "raise ulimit -l (see memoryNeeds().pinnedBytes) or use fewer buffers" };
				break;
			}
			f = { "server.bufferRing.count",
			      "kernel refused to register a provided-buffer ring of server.bufferRing.count=" +
				      std::to_string(c.buf_count) + " buffers",
			      "use a power of two up to 32768 (provided-buffer rings need Linux 5.19)" };
			break;
		case SERVER_STEP_PROBE_MULTISHOT:
			f = { "server", "kernel refused multishot recv with provided buffers",
			      "the echo server needs Linux 6.0 or newer" };
			break;
		case SERVER_STEP_SOCKET:
			f = { "server", "could not create the listening socket", "" };
			break;
		case SERVER_STEP_BIND:
			f = { "server", "could not bind 127.0.0.1:" + std::to_string(c.port),
			      "use port 0 for an ephemeral port, or free the port" };
			break;
		case SERVER_STEP_LISTEN:
			f = { "server", "could not listen on 127.0.0.1:" + std::to_string(c.port), "" };
			break;
		case SERVER_STEP_SUBMIT:
			f = { "server", "could not submit the server's first requests", "" };
			break;
		default:
			f = { "server", "server start-up failed", "" };
			break;
		}
	} else {
		switch ((load_step)err.step) {
		case LOAD_STEP_EVENTFD:
		case LOAD_STEP_THREAD:
			f = { "load.threads", "could not start load thread(s) (load.threads=" + std::to_string(c.threads) + ")",
			      "check the process thread and file limits" };
			break;
		case LOAD_STEP_RING_SETUP:
			f = { "load.connections", "a load thread could not create its io_uring", "" };
			break;
		case LOAD_STEP_ALLOC:
			f = { "load.messageBytes",
			      "could not allocate load buffers (2 x load.messageBytes=" + std::to_string(c.msg_bytes) +
				      " per connection, load.connections=" + std::to_string(c.connections) + ")",
			      "use fewer connections or smaller messages" };
			break;
		case LOAD_STEP_SOCKET:
			f = { "load.connections",
			      "could not create load sockets (load.connections=" + std::to_string(c.connections) + ")",
			      "each connection needs two descriptors (client and server side): raise ulimit -n or use "
			      "fewer connections" };
			break;
		case LOAD_STEP_CONNECT:
			f = { "load.connections", "load connections could not connect to the server on 127.0.0.1", "" };
			break;
		case LOAD_STEP_FD_LIMIT: {
			std::string soft = err.fds_soft == UINT64_MAX ? "unlimited" : std::to_string(err.fds_soft);
			std::string hard = err.fds_hard == UINT64_MAX ? "unlimited" : std::to_string(err.fds_hard);
			f = { "load.connections",
			      "load.connections=" + std::to_string(c.connections) + " needs " +
				      std::to_string(err.fds_needed) + " file descriptors (2 per connection: the load " +
				      "socket and the server's accepted one, plus " + std::to_string(err.fds_open) +
				      " already open and the engine's own) but RLIMIT_NOFILE allows " + soft +
				      " (hard limit " + hard + ")",
			      "raise the limit before starting (ulimit -n " + std::to_string(err.fds_needed) +
				      ", or LimitNOFILE= for a service) or use fewer connections" };
			break;
		}
		default:
			f = { "load", "load start-up failed", "" };
			break;
		}
	}
	return f;
}

// The error start() throws and startAsync() rejects with: one shape for both.
Napi::Error StartError(Napi::Env env, const engine_error &err, const Parsed &p)
{
	int e = -err.err;
	StartFailure f = DescribeFailure(err, p);
	std::string msg = f.what + " " + ErrnoWords(e);
	if (!f.fix.empty())
		msg += "; " + f.fix;
	Napi::Error error = Napi::Error::New(env, msg);
	error.Set("code", Napi::String::New(env, ErrnoCode(e)));
	error.Set("errno", Napi::Number::New(env, e));
	error.Set("knob", Napi::String::New(env, f.knob));
	if (!f.fix.empty())
		error.Set("fix", Napi::String::New(env, f.fix));
	return error;
}

// start/stop refused because another start or stop owns the engine.
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
	Napi::Error error = Napi::Error::New(env, msg + ": " + fix);
	error.Set("code", Napi::String::New(env, "EBUSY"));
	error.Set("errno", Napi::Number::New(env, EBUSY));
	error.Set("knob", Napi::String::New(env, "server"));
	error.Set("fix", Napi::String::New(env, fix));
	return error;
}

// ---- snapshot ------------------------------------------------------------------

Napi::Array SparseHistogram(Napi::Env env, const uint64_t *counts)
{
	Napi::Array h = Napi::Array::New(env);
	uint32_t n = 0;
	for (uint32_t i = 0; i < LH_BUCKETS; i++) {
		if (!counts[i])
			continue;
		Napi::Array pair = Napi::Array::New(env, 2);
		pair.Set(0u, i);
		pair.Set(1u, (double)counts[i]);
		h.Set(n++, pair);
	}
	return h;
}

Napi::Object SnapshotObject(Napi::Env env, const struct engine_snapshot &s)
{
	Napi::Object o = Napi::Object::New(env);
	o.Set("requests", (double)s.requests);
	o.Set("bytes", (double)s.bytes);
	o.Set("errors", (double)s.errors);
	o.Set("serverErrors", (double)s.server_errors);
	o.Set("enobufs", (double)s.enobufs);
	o.Set("histogram", SparseHistogram(env, s.hist));
	o.Set("correctedHistogram", SparseHistogram(env, s.corrected_hist));
	o.Set("serverCpuNs", (double)s.server_cpu_ns);
	o.Set("loadCpuNs", (double)s.load_cpu_ns);
	Napi::Array per = Napi::Array::New(env, s.load_threads);
	for (uint32_t i = 0; i < s.load_threads; i++)
		per.Set(i, (double)s.load_thread_cpu_ns[i]);
	o.Set("loadThreadCpuNs", per);
	o.Set("processCpuNs", (double)s.process_cpu_ns);
	o.Set("monotonicNs", (double)s.monotonic_ns);
	o.Set("activeConnections", (double)s.active_connections);
	o.Set("inFlight", (double)s.in_flight);
	o.Set("oldestInFlightUs", (double)s.oldest_in_flight_us);
	o.Set("liveLoadConnections", (double)s.live_load_connections);
	o.Set("running", (bool)s.running);
	if (s.server_loop_err)
		o.Set("serverError", ErrnoCode(-s.server_loop_err) + ": " + ErrnoText(-s.server_loop_err));
	else
		o.Set("serverError", env.Null());
	return o;
}

// ---- exports -----------------------------------------------------------------------

Napi::Object StartResultObject(Napi::Env env, const engine_started &out, const Parsed &p)
{
	const ring_setup_result &r = out.ring;
	Napi::Object applied = Napi::Object::New(env);
	applied.Set("sqpollEnabled", (bool)r.sqpoll);
	applied.Set("sqpollCpu", r.sqpoll_cpu >= 0 ? Napi::Value(Napi::Number::New(env, r.sqpoll_cpu)) : env.Null());
	// The kernel takes an idle time of 0 as its default of one second.
	unsigned idle = p.cfg.ring.sqpoll_idle_ms;
	applied.Set("sqpollIdleMs", r.sqpoll && idle == 0 ? 1000u : idle);
	applied.Set("taskrun", TaskrunName(r.taskrun));
	applied.Set("ringEntries", r.sq_entries);
	applied.Set("bufferRingSize", p.cfg.buf_size);
	applied.Set("bufferRingCount", p.cfg.buf_count);

	Napi::Array rejected = Napi::Array::New(env);
	for (int i = 0; i < r.nrejected; i++)
		rejected.Set((uint32_t)i, Rejection(env, r.rejected[i], p));

	Napi::Object ring = Napi::Object::New(env);
	ring.Set("flags", FlagNames(env, r.flags));
	ring.Set("features", FeatureNames(env, r.features));
	ring.Set("sqEntries", r.sq_entries);
	ring.Set("cqEntries", r.cq_entries);

	Napi::Object result = Napi::Object::New(env);
	result.Set("port", out.port);
	result.Set("applied", applied);
	result.Set("rejected", rejected);
	result.Set("ring", ring);
	result.Set("loadThreads", out.load_threads);
	return result;
}

Napi::Value Start(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	Parsed p = ParseConfig(env, info[0]);
	engine_started out;
	engine_error err;

	std::memset(&out, 0, sizeof(out));
	if (engine_start_begin())
		throw BusyError(env, false);
	g_owner.store(env);
	if (engine_start_finish(&p.cfg, &out, &err, 0)) {
		ReleaseOwner(env);
		throw StartError(env, err, p);
	}
	return StartResultObject(env, out, p);
}

// Runs the part of OnOK/OnError that touches JS. When the environment is
// being torn down (a worker terminated with the work still queued), Node
// still runs the completion but JS can no longer be called: creating the
// result throws, and node-addon-api's own rethrow would then terminate the
// process. Nobody is left to receive the result, so it is dropped; the
// engine has been settled already and the cleanup hook stops it.
template <typename F> void SettleJs(F &&f)
{
	try {
		f();
	} catch (const Napi::Error &) {
	}
}

// startAsync: the config is parsed and the engine claimed (IDLE -> STARTING)
// here on the JS thread, so a bad config or a second start is refused at once
// and a snapshot() meanwhile returns null; the connects and thread start-ups
// run on libuv's pool. The engine stays STARTING until OnOK/OnError settles
// it on the JS thread: until the promise settles, the start is in progress.
class StartWorker : public Napi::AsyncWorker {
public:
	StartWorker(Napi::Env env, const Parsed &p)
		: Napi::AsyncWorker(env, "uring_lab.startAsync"), deferred_(Napi::Promise::Deferred::New(env)), p_(p)
	{
		std::memset(&out_, 0, sizeof(out_));
		std::memset(&err_, 0, sizeof(err_));
	}

	Napi::Promise Promise() const { return deferred_.Promise(); }

protected:
	void Execute() override
	{
		executed_ = true;
		if (engine_start_finish(&p_.cfg, &out_, &err_, 1))
			SetError("start failed"); // the words are made in OnError, on the JS thread
	}

	void OnOK() override
	{
		Settle();
		SettleJs([&] { deferred_.Resolve(StartResultObject(Env(), out_, p_)); });
	}

	void OnError(const Napi::Error &) override
	{
		Settle();
		ReleaseOwner(Env());
		SettleJs([&] { deferred_.Reject(StartError(Env(), err_, p_).Value()); });
	}

	// Work cancelled before it ran (its environment going away) must not
	// leave the engine claimed for ever, nor a finished one held.
	void Destroy() override
	{
		if (!executed_)
			engine_start_abandon();
		else
			Settle();
		Napi::AsyncWorker::Destroy();
	}

private:
	void Settle()
	{
		if (!settled_)
			engine_settle();
		settled_ = true;
	}

private:
	Napi::Promise::Deferred deferred_;
	Parsed p_;
	engine_started out_;
	engine_error err_;
	bool executed_ = false;
	bool settled_ = false;
};

Napi::Value StartAsync(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	Napi::Promise::Deferred refused = Napi::Promise::Deferred::New(env);
	Parsed p;

	try {
		p = ParseConfig(env, info[0]);
	} catch (const Napi::Error &e) {
		refused.Reject(e.Value());
		return refused.Promise();
	}
	if (engine_start_begin()) {
		refused.Reject(BusyError(env, false).Value());
		return refused.Promise();
	}
	g_owner.store(env);
	StartWorker *w = new StartWorker(env, p);
	Napi::Promise promise = w->Promise();
	w->Queue();
	return promise;
}

Napi::Value Snapshot(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	struct engine_snapshot s;
	if (engine_snapshot(&s) == -ENOTCONN)
		return env.Null();
	return SnapshotObject(env, s);
}

Napi::Value Stop(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	struct engine_snapshot s;
	int ret = engine_stop(&s);
	if (ret == -ENOTCONN)
		return env.Null();
	if (ret == -EBUSY)
		throw BusyError(env, true);
	ReleaseOwner(env);
	return SnapshotObject(env, s);
}

// stopAsync: claimed here (RUNNING -> STOPPING), joined and drained on the
// pool, and held STOPPING until OnOK settles it, like startAsync.
class StopWorker : public Napi::AsyncWorker {
public:
	explicit StopWorker(Napi::Env env)
		: Napi::AsyncWorker(env, "uring_lab.stopAsync"), deferred_(Napi::Promise::Deferred::New(env))
	{
		std::memset(&snap_, 0, sizeof(snap_));
	}

	Napi::Promise Promise() const { return deferred_.Promise(); }

protected:
	void Execute() override
	{
		executed_ = true;
		engine_stop_finish(&snap_, 1);
	}

	void OnOK() override
	{
		Settle();
		ReleaseOwner(Env());
		SettleJs([&] { deferred_.Resolve(SnapshotObject(Env(), snap_)); });
	}

	// Cancelled before it ran: finish the stop here rather than leave the
	// engine STOPPING with its threads running.
	void Destroy() override
	{
		if (!executed_)
			engine_stop_finish(&snap_, 0);
		else
			Settle();
		Napi::AsyncWorker::Destroy();
	}

private:
	void Settle()
	{
		if (!settled_)
			engine_settle();
		settled_ = true;
	}

	Napi::Promise::Deferred deferred_;
	struct engine_snapshot snap_;
	bool executed_ = false;
	bool settled_ = false;
};

Napi::Value StopAsync(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int ret = engine_stop_begin();
	if (ret) {
		Napi::Promise::Deferred d = Napi::Promise::Deferred::New(env);
		if (ret == -ENOTCONN)
			d.Resolve(env.Null());
		else
			d.Reject(BusyError(env, true).Value());
		return d.Promise();
	}
	StopWorker *w = new StopWorker(env);
	Napi::Promise promise = w->Promise();
	w->Queue();
	return promise;
}

// memoryNeeds(config): what start(config) would allocate, from the functions
// the allocations use; validates the config exactly like start().
Napi::Value MemoryNeeds(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	Parsed p = ParseConfig(env, info[0]);
	struct engine_memory m;

	engine_memory_needs(&p.cfg, &m);
	Napi::Object o = Napi::Object::New(env);
	o.Set("bufferRingBytes", (double)m.buffer_ring);
	o.Set("loadBufferBytes", (double)m.load_buffers);
	o.Set("ringBytes", (double)m.rings);
	o.Set("connectionStateBytes", (double)m.conn_state);
	o.Set("totalBytes", (double)m.total);
	o.Set("pinnedBytes", (double)m.memlock);
	o.Set("memlockExempt", (bool)m.memlock_exempt);
	o.Set("memlockLimitBytes",
	      m.memlock_limit == UINT64_MAX ? Napi::Value(env.Null()) : Napi::Number::New(env, (double)m.memlock_limit));
	return o;
}

// ---- test hooks ------------------------------------------------------------------------

Napi::Value DebugPauseServer(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	if (!info[0].IsNumber())
		throw Napi::TypeError::New(env, "debugPauseServer(ms): ms must be a number (got " + TypeName(info[0]) + ")");
	double ms = info[0].As<Napi::Number>().DoubleValue();
	if (!(ms >= 1 && ms <= 60000) || std::floor(ms) != ms)
		throw Napi::RangeError::New(env, "debugPauseServer(ms): ms must be an integer between 1 and 60000");
	return Napi::Boolean::New(env, engine_debug_pause_server((unsigned)ms) == 0);
}

Napi::Value DebugFailServer(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	if (!info[0].IsNumber())
		throw Napi::TypeError::New(env, "debugFailServer(errno): errno must be a number (got " + TypeName(info[0]) + ")");
	double e = info[0].As<Napi::Number>().DoubleValue();
	// The loop shrugs off EINTR/EAGAIN/EBUSY/ETIME from io_uring_enter: those would not kill it.
	if (!(e >= 1 && e <= 4095) || std::floor(e) != e || e == EINTR || e == EAGAIN || e == EBUSY || e == ETIME)
		throw Napi::RangeError::New(env, "debugFailServer(errno): errno must be a positive errno other than "
						 "EINTR, EAGAIN, EBUSY or ETIME");
	return Napi::Boolean::New(env, engine_debug_fail_server(-(int)e) == 0);
}

Napi::Value HistogramLayout(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	Napi::Object o = Napi::Object::New(env);
	o.Set("unit", "us");
	o.Set("subBucketBits", LH_SUB_BUCKET_BITS);
	o.Set("linearBuckets", LH_LINEAR_BUCKETS);
	o.Set("bucketCount", LH_BUCKETS);
	Napi::Array lower = Napi::Array::New(env, LH_BUCKETS);
	for (uint32_t i = 0; i < LH_BUCKETS; i++)
		lower.Set(i, (double)lh_bucket_lower_us(i));
	o.Set("lowerBoundsUs", lower);
	return o;
}

Napi::Value HistogramIndex(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	if (!info[0].IsNumber())
		throw Napi::TypeError::New(env, "histogramIndex(us): us must be a number (got " + TypeName(info[0]) + ")");
	double us = info[0].As<Napi::Number>().DoubleValue();
	if (!(us >= 0))
		throw Napi::RangeError::New(env, "histogramIndex(us): us must be >= 0");
	return Napi::Number::New(env, lh_index(us >= 1.8e19 ? UINT64_MAX : (uint64_t)us));
}

// The bucket the load generator records for a round trip of `ns` nanoseconds:
// the same lh_ns_to_us() rounding up, then lh_index().
Napi::Value HistogramIndexNs(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	if (!info[0].IsNumber())
		throw Napi::TypeError::New(env, "histogramIndexNs(ns): ns must be a number (got " + TypeName(info[0]) + ")");
	double ns = info[0].As<Napi::Number>().DoubleValue();
	if (!(ns >= 0) || ns > 9e15)
		throw Napi::RangeError::New(env, "histogramIndexNs(ns): ns must be between 0 and 9e15");
	return Napi::Number::New(env, lh_index(lh_ns_to_us((uint64_t)ns)));
}

Napi::Object ProbeResultObject(Napi::Env env, int err)
{
	Napi::Object o = Napi::Object::New(env);
	o.Set("errno", err < 0 ? -err : 0);
	o.Set("code", err < 0 ? ErrnoCode(-err) : "OK");
	o.Set("reason", err < 0 ? ErrnoText(-err) : "accepted");
	return o;
}

// probeCapabilities(): what this kernel's io_uring accepts, from throw-away rings.
// Independent of a running engine, so `doctor` may ask while an experiment runs.
Napi::Value ProbeCapabilities(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	struct capability_probe caps;
	capability_probe_run(&caps);

	Napi::Object out = Napi::Object::New(env);
	out.Set("ring", ProbeResultObject(env, caps.ring_err));
	out.Set("sqpoll", ProbeResultObject(env, caps.sqpoll_err));
	out.Set("deferTaskrun", ProbeResultObject(env, caps.defer_taskrun_err));
	out.Set("coopTaskrun", ProbeResultObject(env, caps.coop_taskrun_err));
	out.Set("iopollSocket", ProbeResultObject(env, caps.iopoll_socket_err));
	Napi::Array ops = Napi::Array::New(env);
	uint32_t n = 0;
	for (int op = 0; op < caps.op_count; op++) {
		if (!caps.op_supported[op])
			continue;
		const char *name = capability_op_name(op);
		ops.Set(n++, name ? std::string(name) : "OP_" + std::to_string(op));
	}
	out.Set("ops", ops);
	out.Set("features", FeatureNames(env, caps.features));
	return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports)
{
	napi_add_env_cleanup_hook(env, CleanupHook, static_cast<napi_env>(env));
	exports.Set("start", Napi::Function::New(env, Start, "start"));
	exports.Set("startAsync", Napi::Function::New(env, StartAsync, "startAsync"));
	exports.Set("snapshot", Napi::Function::New(env, Snapshot, "snapshot"));
	exports.Set("stop", Napi::Function::New(env, Stop, "stop"));
	exports.Set("stopAsync", Napi::Function::New(env, StopAsync, "stopAsync"));
	exports.Set("memoryNeeds", Napi::Function::New(env, MemoryNeeds, "memoryNeeds"));
	exports.Set("debugPauseServer", Napi::Function::New(env, DebugPauseServer, "debugPauseServer"));
	exports.Set("debugFailServer", Napi::Function::New(env, DebugFailServer, "debugFailServer"));
	exports.Set("histogramLayout", Napi::Function::New(env, HistogramLayout, "histogramLayout"));
	exports.Set("histogramIndex", Napi::Function::New(env, HistogramIndex, "histogramIndex"));
	exports.Set("histogramIndexNs", Napi::Function::New(env, HistogramIndexNs, "histogramIndexNs"));
	exports.Set("probeCapabilities", Napi::Function::New(env, ProbeCapabilities, "probeCapabilities"));
	return exports;
}

} // namespace

NODE_API_MODULE(uring_lab, Init)
