// C results to JS objects; see marshal.h.
#include "binding/marshal.h"

#include <liburing.h>

#include <cstring>
#include <initializer_list>

#include "binding/config.h"
#include "binding/errno_words.h"

namespace {

const struct {
	unsigned bit;
	const char *name;
} kSetupFlags[] = {
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
	{ RING_SETUP_ATTACH_WQ, "ATTACH_WQ" },
};

// The server workers' settings beside the ring's (ring_setup.h): NAPI registration, the loop's
// minimum wait, and the worker threads' NUMA placement.
const struct {
	unsigned bit;
	const char *name;
} kWorkerSettings[] = {
	{ RING_SETTING_NAPI, "NAPI" },
	{ RING_SETTING_MIN_WAIT, "MIN_WAIT" },
	{ RING_SETTING_NUMA_NODE, "NUMA_NODE" },
	{ RING_SETTING_NUMA_CPUS, "NUMA_CPUS" },
	{ RING_SETTING_TCP_CONGESTION, "TCP_CONGESTION" },
	{ RING_SETTING_SO_RCVBUF, "SO_RCVBUF" },
	{ RING_SETTING_SO_SNDBUF, "SO_SNDBUF" },
};

// RING_SETTING_REGISTERED_FD, named beside the flags in refusals (it is not a setup flag).
constexpr const char *kRegisteredRingFd = "REGISTERED_RING_FD";
// RING_SETTING_HUGEPAGES: the server's buffer pool on huge pages (not a ring setting at all).
constexpr const char *kHugepages = "HUGEPAGES";
// The io_uring server's receive/send path knobs (ring_setup.h RING_SETTING_*), refused with the
// errno of the feature check or registration that refused them; each asked for with `true`.
const struct {
	unsigned bit;
	const char *name;
} kPathSettings[] = {
	{ RING_SETTING_RECV_BUNDLE, "RECV_BUNDLE" },
	{ RING_SETTING_BUF_INCREMENTAL, "BUF_INCREMENTAL" },
	{ RING_SETTING_SEND_ZC, "SEND_ZC" },
	{ RING_SETTING_REGISTERED_BUFFERS, "REGISTERED_BUFFERS" },
	{ RING_SETTING_DIRECT_DESCRIPTORS, "DIRECT_DESCRIPTORS" },
	{ RING_SETTING_QUIET_SENDS, "QUIET_SENDS" },
	{ RING_SETTING_RECV_ON_READY, "RECV_ON_READY" },
};

const char *FlagName(unsigned bit)
{
	if (bit == RING_SETTING_REGISTERED_FD)
		return kRegisteredRingFd;
	if (bit == RING_SETTING_HUGEPAGES)
		return kHugepages;
	for (const auto &f : kWorkerSettings)
		if (f.bit == bit)
			return f.name;
	for (const auto &f : kPathSettings)
		if (f.bit == bit)
			return f.name;
	for (const auto &f : kSetupFlags)
		if (f.bit == bit)
			return f.name;
	return "UNKNOWN";
}

// names[i], or `fallback` past the end.
template <size_t N> const char *Named(const char *const (&names)[N], unsigned i, const char *fallback)
{
	return i < N ? names[i] : fallback;
}

const char *TaskrunName(taskrun_mode m)
{
	static const char *const names[] = { "default", "coop", "defer" }; // enum taskrun_mode
	return Named(names, m, "default");
}

const char *CauseName(refusal_cause c)
{
	// enum refusal_cause; RefusalCause in index.d.ts
	static const char *const names[] = { "refused", "conflicts_with_sqpoll", "moot_without_sqpoll",
					     "needs_single_issuer", "no_poll_queues" };
	return Named(names, c, "refused");
}

// The config value that asked for a setting: what the user typed, so a refusal reads
// "napiBusyPollUs 50 refused", not just "refused".
Napi::Value Requested(Napi::Env env, unsigned flag, const server_config &cfg)
{
	const ring_request &req = cfg.ring;

	switch (flag) {
	case IORING_SETUP_SQPOLL:
		return Napi::Boolean::New(env, req.sqpoll);
	case IORING_SETUP_SQ_AFF:
		return Napi::Number::New(env, req.sqpoll_cpu);
	case IORING_SETUP_SINGLE_ISSUER:
	case IORING_SETUP_DEFER_TASKRUN:
	case IORING_SETUP_COOP_TASKRUN:
		return Napi::String::New(env, TaskrunName(req.taskrun));
	case RING_SETTING_REGISTERED_FD:
		return Napi::Boolean::New(env, req.register_fd);
	case IORING_SETUP_IOPOLL:
		return Napi::Boolean::New(env, req.iopoll);
	case RING_SETUP_ATTACH_WQ:
		return Napi::Boolean::New(env, cfg.sqpoll_shared);
	case RING_SETTING_NAPI:
		return Napi::Number::New(env, cfg.napi_busy_poll_us);
	case RING_SETTING_MIN_WAIT:
		return Napi::Number::New(env, cfg.min_wait_us);
	case RING_SETTING_NUMA_NODE:
		return Napi::Number::New(env, cfg.numa_node);
	case RING_SETTING_NUMA_CPUS: {
		Napi::Array cpus = Napi::Array::New(env, cfg.ncpus);
		for (unsigned i = 0; i < cfg.ncpus && i < SERVER_CPUS_MAX; i++)
			cpus.Set(i, cfg.cpus[i]);
		return cpus;
	}
	case RING_SETTING_HUGEPAGES:
		return Napi::Boolean::New(env, cfg.buf_hugepages);
	case RING_SETTING_TCP_CONGESTION:
		return Napi::String::New(env, cfg.congestion);
	case RING_SETTING_SO_RCVBUF:
		return Napi::Number::New(env, cfg.rcvbuf);
	case RING_SETTING_SO_SNDBUF:
		return Napi::Number::New(env, cfg.sndbuf);
	case RING_SETTING_RECV_BUNDLE:
		return Napi::Boolean::New(env, cfg.recv_bundle);
	case RING_SETTING_BUF_INCREMENTAL:
		return Napi::Boolean::New(env, cfg.buf_incremental);
	case RING_SETTING_SEND_ZC:
		return Napi::Boolean::New(env, cfg.send_zc);
	case RING_SETTING_REGISTERED_BUFFERS:
		return Napi::Boolean::New(env, cfg.registered_buffers);
	case RING_SETTING_DIRECT_DESCRIPTORS:
		return Napi::Boolean::New(env, cfg.direct_descriptors);
	case RING_SETTING_QUIET_SENDS:
		return Napi::Boolean::New(env, cfg.quiet_sends);
	case RING_SETTING_RECV_ON_READY:
		return Napi::Boolean::New(env, cfg.recv_on_ready);
	default:
		return env.Null();
	}
}

// 64-bit counters as JS numbers (exact up to 2^53).
struct NumberField {
	const char *name;
	uint64_t value;
};

void SetNumbers(Napi::Object o, std::initializer_list<NumberField> fields)
{
	for (const NumberField &f : fields)
		o.Set(f.name, (double)f.value);
}

} // namespace

Napi::Array SparseHistogram(Napi::Env env, const uint64_t *counts, uint32_t nbuckets)
{
	Napi::Array h = Napi::Array::New(env);
	uint32_t n = 0;
	for (uint32_t i = 0; i < nbuckets; i++) {
		if (!counts[i])
			continue;
		Napi::Array pair = Napi::Array::New(env, 2);
		pair.Set(0u, i);
		pair.Set(1u, (double)counts[i]);
		h.Set(n++, pair);
	}
	return h;
}

Napi::Array FlagNames(Napi::Env env, unsigned flags)
{
	Napi::Array a = Napi::Array::New(env);
	uint32_t n = 0;
	for (const auto &f : kSetupFlags)
		if (flags & f.bit)
			a.Set(n++, f.name);
	return a;
}

unsigned FlagBit(const std::string &name)
{
	if (name == kRegisteredRingFd)
		return RING_SETTING_REGISTERED_FD;
	for (const auto &f : kWorkerSettings)
		if (name == f.name)
			return f.bit;
	for (const auto &f : kPathSettings)
		if (name == f.name)
			return f.bit;
	for (const auto &f : kSetupFlags)
		if (name == f.name)
			return f.bit;
	return 0;
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

namespace {

// The epoll server has no io_uring: its ring knobs did not apply, and there is nothing the
// kernel refused or changed. They are reported at their requested values (what the host
// already holds), so `applied` never claims a ring setting took effect differently.
ring_setup_result AsRequested(const server_config &requested)
{
	const ring_request &q = requested.ring;
	ring_setup_result r;
	std::memset(&r, 0, sizeof(r));
	r.sq_entries = q.entries;
	r.sqpoll = q.sqpoll;
	r.sqpoll_cpu = q.sqpoll_cpu;
	r.taskrun = q.taskrun;
	r.registered_fd = q.register_fd;
	r.iopoll = q.iopoll;
	r.hugepages = requested.buf_hugepages;
	r.multishot = requested.multishot;
	r.recv_on_ready = requested.recv_on_ready;
	r.recv_bundle = requested.recv_bundle;
	r.buf_incremental = requested.buf_incremental;
	r.send_zc = requested.send_zc;
	r.registered_buffers = requested.registered_buffers;
	r.direct_descriptors = requested.direct_descriptors;
	r.quiet_sends = requested.quiet_sends;
	return r;
}

} // namespace

// server.socket in profile terms: "" and 0 (not asked for, or refused) are null, the kernel's default.
static Napi::Object SocketObject(Napi::Env env, const char *congestion, unsigned rcvbuf, unsigned sndbuf)
{
	Napi::Object socket = Napi::Object::New(env);
	socket.Set("congestion", congestion[0] ? Napi::Value(Napi::String::New(env, congestion)) : env.Null());
	socket.Set("receiveBufferBytes", rcvbuf ? Napi::Value(Napi::Number::New(env, rcvbuf)) : env.Null());
	socket.Set("sendBufferBytes", sndbuf ? Napi::Value(Napi::Number::New(env, sndbuf)) : env.Null());
	return socket;
}

Napi::Object AppliedServer(Napi::Env env, const server_config &requested, const ring_setup_result &setup)
{
	const bool epoll = requested.engine == SERVER_ENGINE_EPOLL;
	const ring_setup_result &r = epoll ? AsRequested(requested) : setup;

	Napi::Object sqpoll = Napi::Object::New(env);
	sqpoll.Set("enabled", (bool)r.sqpoll);
	sqpoll.Set("cpu", r.sqpoll_cpu >= 0 ? Napi::Value(Napi::Number::New(env, r.sqpoll_cpu)) : env.Null());
	// The kernel takes an idle time of 0 as its default of one second (only on a real SQPOLL ring).
	unsigned idle = requested.ring.sqpoll_idle_ms;
	sqpoll.Set("idleMs", !epoll && r.sqpoll && idle == 0 ? 1000u : idle);

	Napi::Object buffer_ring = Napi::Object::New(env);
	buffer_ring.Set("size", requested.buf_size);
	buffer_ring.Set("count", requested.buf_count);
	buffer_ring.Set("hugepages", (bool)r.hugepages);
	buffer_ring.Set("incremental", (bool)r.buf_incremental);
	// A policy of the server's own (which buffers the ring offers), never refused.
	buffer_ring.Set("hotFirst", (bool)requested.buf_hot_first);

	Napi::Object server = Napi::Object::New(env);
	server.Set("engine", epoll ? "epoll" : "io_uring");
	server.Set("ringEntries", r.sq_entries);
	server.Set("sqpoll", sqpoll);
	server.Set("taskrun", TaskrunName(r.taskrun));
	server.Set("registeredRingFd", (bool)r.registered_fd);
	server.Set("iopoll", (bool)r.iopoll);
	server.Set("bufferRing", buffer_ring);
	server.Set("multishot", (bool)r.multishot);
	// A policy of the server's own (when it receives), refused only with SQPOLL.
	server.Set("recvOnReady", (bool)r.recv_on_ready);
	server.Set("recvBundle", (bool)r.recv_bundle);
	server.Set("sendZeroCopy", (bool)r.send_zc);
	server.Set("registeredBuffers", (bool)r.registered_buffers);
	server.Set("directDescriptors", (bool)r.direct_descriptors);
	server.Set("quietSends", (bool)r.quiet_sends);
	// The workers' knobs. With epoll the io_uring ones read as requested (like the ring knobs);
	// rings and numa apply to both servers and come from what the workers really did.
	server.Set("rings", requested.workers);
	// sqpoll.shared: every other ring attached to worker 0's SQPOLL thread (one ring: its own).
	sqpoll.Set("shared", epoll ? (bool)requested.sqpoll_shared : (bool)(requested.sqpoll_shared && setup.attached_wq));
	server.Set("napiBusyPollUs", epoll || setup.napi ? requested.napi_busy_poll_us : 0u);
	server.Set("minWaitUs", epoll ? requested.min_wait_us : setup.min_wait_us);
	Napi::Object numa = Napi::Object::New(env);
	numa.Set("node", setup.numa_node >= 0 ? Napi::Value(Napi::Number::New(env, setup.numa_node)) : env.Null());
	numa.Set("cpus", env.Null()); // StartResultObject fills it in from each worker's pinning
	server.Set("numa", numa);
	// server.socket, both engines: what the listeners hold (null: the kernel's default, as asked
	// or after a refusal; a buffer is what the kernel granted, which a cap can make less).
	server.Set("socket", SocketObject(env, setup.congestion, (unsigned)setup.rcvbuf, (unsigned)setup.sndbuf));
	return server;
}

Napi::Array RefusedSettings(Napi::Env env, const ring_setup_result &r, const server_config &requested)
{
	Napi::Array refused = Napi::Array::New(env);
	for (int i = 0; i < r.nrefused; i++) {
		const ring_refusal &x = r.refused[i];
		int e = -x.err;
		Napi::Object o = Napi::Object::New(env);
		o.Set("setting", FlagName(x.flag));
		o.Set("cause", CauseName(x.cause));
		o.Set("errno", e);
		o.Set("code", ErrnoCode(e));
		o.Set("errnoText", ErrnoText(e));
		o.Set("requested", Requested(env, x.flag, requested));
		refused.Set((uint32_t)i, o);
	}
	return refused;
}

Napi::Object RingObject(Napi::Env env, const ring_setup_result &r)
{
	Napi::Object ring = Napi::Object::New(env);
	ring.Set("flags", FlagNames(env, r.flags));
	ring.Set("features", FeatureNames(env, r.features));
	ring.Set("sqEntries", r.sq_entries);
	ring.Set("cqEntries", r.cq_entries);
	return ring;
}

Napi::Object StartResultObject(Napi::Env env, const engine_started &out, const engine_config &cfg)
{
	Napi::Object applied = Napi::Object::New(env);
	if (cfg.target.enabled) {
		// A target (uring-lab load): no server of ours ran, so nothing of it was applied or
		// refused; its settings read as requested, as epoll's ring knobs do (AsRequested).
		server_config as_requested = cfg.server;
		as_requested.engine = SERVER_ENGINE_EPOLL;
		Napi::Object server = AppliedServer(env, as_requested, out.ring);
		server.Set("engine", cfg.server.engine == SERVER_ENGINE_EPOLL ? "epoll" : "io_uring");
		server.Get("numa").As<Napi::Object>().Set("node", cfg.server.numa_node >= 0 ?
			Napi::Value(Napi::Number::New(env, cfg.server.numa_node)) : env.Null());
		server.Set("socket", SocketObject(env, cfg.server.congestion, cfg.server.rcvbuf, cfg.server.sndbuf));
		applied.Set("server", server);
	} else {
		applied.Set("server", AppliedServer(env, cfg.server, out.ring));
	}

	Napi::Object result = Napi::Object::New(env);
	result.Set("protocol", kProtocolVersion);
	result.Set("port", out.port);
	result.Set("applied", applied);
	result.Set("refused", RefusedSettings(env, out.ring, cfg.server));
	result.Set("ring", RingObject(env, out.ring));
	result.Set("loadThreads", out.load_threads);

	// numa.cpus applied only if every worker got the CPU it was given (cpus[i % n]).
	bool pinned = cfg.server.ncpus > 0;
	Napi::Array workers = Napi::Array::New(env, out.workers);
	for (uint32_t i = 0; i < out.workers; i++) {
		Napi::Object w = Napi::Object::New(env);
		w.Set("tid", out.worker_tid[i]);
		w.Set("cpu", out.worker_cpu[i] >= 0 ? Napi::Value(Napi::Number::New(env, out.worker_cpu[i])) : env.Null());
		w.Set("numaNode", out.worker_node[i] >= 0 ? Napi::Value(Napi::Number::New(env, out.worker_node[i])) : env.Null());
		w.Set("attachedWq", (bool)out.worker_attached[i]);
		workers.Set(i, w);
		if (pinned && out.worker_cpu[i] != cfg.server.cpus[i % cfg.server.ncpus])
			pinned = false;
	}
	result.Set("serverWorkers", workers);
	// The storage workload: the target as the jobs use it (the host names the device in the
	// summary and in an IOPOLL refusal).
	if (cfg.storage_workload) {
		Napi::Object st = Napi::Object::New(env);
		st.Set("path", cfg.storage.path);
		st.Set("sizeBytes", (double)out.storage.size_bytes);
		st.Set("device", out.storage.device);
		st.Set("devMajor", out.storage.dev_major);
		st.Set("devMinor", out.storage.dev_minor);
		st.Set("blockDevice", (bool)out.storage.is_block_device);
		st.Set("filled", (bool)cfg.storage.fill);
		st.Set("verified", (bool)cfg.storage.verify);
		result.Set("storage", st);
	} else {
		result.Set("storage", env.Null());
	}
	if (pinned) {
		Napi::Array cpus = Napi::Array::New(env, cfg.server.ncpus);
		for (uint32_t i = 0; i < cfg.server.ncpus; i++)
			cpus.Set(i, cfg.server.cpus[i]);
		applied.Get("server").As<Napi::Object>().Get("numa").As<Napi::Object>().Set("cpus", cpus);
	}
	return result;
}

Napi::Object SnapshotObject(Napi::Env env, const struct engine_snapshot &s)
{
	Napi::Object o = Napi::Object::New(env);
	SetNumbers(o, { { "requests", s.requests },
			{ "bytes", s.bytes },
			{ "errors", s.errors },
			{ "mismatches", s.mismatches },
			{ "timeouts", s.timeouts },
			{ "serverErrors", s.server_errors },
			{ "enobufs", s.enobufs } });
	o.Set("histogram", SparseHistogram(env, s.hist, LH_BUCKETS));
	o.Set("correctedHistogram", SparseHistogram(env, s.corrected_hist, LH_BUCKETS));
	SetNumbers(o, { { "serverCpuNs", s.server_cpu_ns }, { "loadCpuNs", s.load_cpu_ns } });
	Napi::Array per = Napi::Array::New(env, s.load_threads);
	for (uint32_t i = 0; i < s.load_threads; i++)
		per.Set(i, (double)s.load_thread_cpu_ns[i]);
	o.Set("loadThreadCpuNs", per);
	Napi::Array busy = Napi::Array::New(env, s.load_threads);
	for (uint32_t i = 0; i < s.load_threads; i++)
		busy.Set(i, (double)s.load_thread_busy_ns[i]);
	o.Set("loadThreadBusyNs", busy);
	SetNumbers(o, { { "processCpuNs", s.process_cpu_ns },
			{ "monotonicNs", s.monotonic_ns },
			{ "activeConnections", s.active_connections },
			{ "peakConnections", s.peak_connections },
			{ "inFlight", s.in_flight },
			{ "oldestInFlightUs", s.oldest_in_flight_us },
			{ "liveLoadConnections", s.live_load_connections } });
	o.Set("running", (bool)s.running);
	// The stop's final snapshot: how evenly the server's workers served every connection they
	// had (in bytes; the host turns them into echoes). Null in every other snapshot.
	if (s.conn_tally_known) {
		Napi::Object t = Napi::Object::New(env);
		SetNumbers(t, { { "connections", s.conn_tally.conns },
				{ "silent", s.conn_tally.silent },
				{ "unserved", s.conn_tally.unserved },
				{ "minBytes", s.conn_tally.min_bytes },
				{ "minConnection", s.conn_tally.min_ordinal },
				{ "maxBytes", s.conn_tally.max_bytes } });
		t.Set("sumBytes", s.conn_tally.sum);
		t.Set("squaresBytes", s.conn_tally.squares);
		o.Set("serverConnectionEchoes", t);
	} else {
		o.Set("serverConnectionEchoes", env.Null());
	}

	// The server's own counters, summed over its workers (deltas; buffers are gauges).
	Napi::Object server = Napi::Object::New(env);
	SetNumbers(server, { { "enters", s.enters },
			     { "batchedWaits", s.batched_waits },
			     { "cqes", s.cqes },
			     { "recvs", s.recv_cqes },
			     { "sends", s.sends },
			     { "bytesOut", s.bytes_out },
			     { "zeroCopySends", s.zc_sends },
			     { "copiedSends", s.zc_copied },
			     { "zeroCopyFallbacks", s.zc_fallbacks },
			     { "enobufs", s.enobufs },
			     { "rearms", s.rearms },
			     { "spilledBytes", s.spilled_bytes },
			     { "cqOverflows", s.cq_overflows },
			     { "buffersInUse", s.bufs_in_use },
			     { "buffersTotal", s.bufs_total },
			     { "buffersPeak", s.bufs_peak },
			     { "buffersInRing", s.bufs_in_ring },
			     { "userCpuNs", s.server_user_ns },
			     { "systemCpuNs", s.server_sys_ns },
			     { "sqpollCpuNs", s.sqpoll_cpu_ns } });
	Napi::Object by_op = Napi::Object::New(env);
	SetNumbers(by_op, { { "accept", s.errors_by_op[SERVER_ERR_ACCEPT] },
			    { "recv", s.errors_by_op[SERVER_ERR_RECV] },
			    { "send", s.errors_by_op[SERVER_ERR_SEND] },
			    { "other", s.errors_by_op[SERVER_ERR_OTHER] } });
	server.Set("errorsByOp", by_op);
	// Null, not 0: no SQPOLL thread, or a kernel that does not report its work time.
	server.Set("sqpollWorkNs", s.sqpoll_work_known ? Napi::Value(Napi::Number::New(env, (double)s.sqpoll_work_ns)) : env.Null());
	// Null, not 0: the kernel's per-socket segment counts could not be read (no sock_diag).
	auto segs = [&](uint64_t n) { return s.segs_known ? Napi::Value(Napi::Number::New(env, (double)n)) : env.Null(); };
	server.Set("segmentsOut", segs(s.segs.out));
	server.Set("segmentsIn", segs(s.segs.in));
	server.Set("dataSegmentsOut", segs(s.segs.data_out));
	server.Set("dataSegmentsIn", segs(s.segs.data_in));
	server.Set("segmentsRequests", segs(s.segs_requests));
	server.Set("segmentsLost", Napi::Boolean::New(env, s.segs_lost != 0));
	// No worker of ours (a target: uring-lab load): no server counters at all, not zeros.
	o.Set("server", s.workers ? Napi::Value(server) : env.Null());
	Napi::Array workers = Napi::Array::New(env, s.workers);
	for (uint32_t i = 0; i < s.workers; i++) {
		Napi::Object w = Napi::Object::New(env);
		SetNumbers(w, { { "accepted", s.worker_accepted[i] }, { "active", s.worker_active[i] } });
		workers.Set(i, w);
	}
	o.Set("serverWorkers", workers);
	if (s.server_loop_err)
		o.Set("serverError", ErrnoCode(-s.server_loop_err) + ": " + ErrnoText(-s.server_loop_err));
	else
		o.Set("serverError", env.Null());
	return o;
}

Napi::Object MemoryNeedsObject(Napi::Env env, const engine_memory &m)
{
	Napi::Object o = Napi::Object::New(env);
	SetNumbers(o, { { "bufferRingBytes", m.buffer_ring },
			{ "loadBufferBytes", m.load_buffers },
			{ "ringBytes", m.rings },
			{ "connectionStateBytes", m.conn_state },
			{ "totalBytes", m.total },
			{ "pinnedBytes", m.memlock } });
	o.Set("memlockExempt", (bool)m.memlock_exempt);
	o.Set("memlockLimitBytes",
	      m.memlock_limit == UINT64_MAX ? Napi::Value(env.Null()) : Napi::Number::New(env, (double)m.memlock_limit));
	return o;
}
