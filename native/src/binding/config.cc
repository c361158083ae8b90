// Engine protocol v1 config parsing; see config.h.
#include "binding/config.h"

#include <arpa/inet.h>

#include <cmath>
#include <cstring>

namespace {

[[noreturn]] void ThrowType(Napi::Env env, const std::string &path, const std::string &want, const Napi::Value &got)
{
	throw Napi::TypeError::New(env, path + " must be " + want + " (got " + TypeName(got) + ")");
}

// The fields of one object of the config, each named by its dotted path in messages.
class Fields {
public:
	Fields(Napi::Env env, const Napi::Value &v, std::string path) : env_(env), path_(std::move(path))
	{
		if (!v.IsObject() || v.IsArray())
			ThrowType(env_, path_, "an object", v);
		obj_ = v.As<Napi::Object>();
	}

	std::string Path(const char *key) const { return path_ + "." + key; }
	Napi::Value Get(const char *key) const { return obj_.Get(key); }
	Fields Object(const char *key) const { return Fields(env_, Get(key), Path(key)); }

	double Integer(const char *key, double min, double max) const
	{
		Napi::Value v = Get(key);
		if (!v.IsNumber())
			ThrowType(env_, Path(key), "a number", v);
		double d = v.As<Napi::Number>().DoubleValue();
		if (!std::isfinite(d) || std::floor(d) != d)
			throw Napi::TypeError::New(env_, Path(key) + " must be an integer (got " + std::to_string(d) + ")");
		if (d < min || d > max)
			throw Napi::RangeError::New(env_, Path(key) + " must be between " + std::to_string((long long)min) +
								  " and " + std::to_string((long long)max) + " (got " +
								  std::to_string((long long)d) + ")");
		return d;
	}

	bool Bool(const char *key) const
	{
		Napi::Value v = Get(key);
		if (!v.IsBoolean())
			ThrowType(env_, Path(key), "a boolean", v);
		return v.As<Napi::Boolean>().Value();
	}

	std::string String(const char *key, const std::string &want) const
	{
		Napi::Value v = Get(key);
		if (!v.IsString())
			ThrowType(env_, Path(key), want, v);
		return v.As<Napi::String>().Utf8Value();
	}

	Napi::Env Env() const { return env_; }

private:
	Napi::Env env_;
	std::string path_;
	Napi::Object obj_;
};

server_config ParseServer(const Fields &s)
{
	Napi::Env env = s.Env();
	server_config c;
	std::memset(&c, 0, sizeof(c));

	std::string engine = s.String("engine", "'io_uring' or 'epoll'");
	if (engine == "io_uring")
		c.engine = SERVER_ENGINE_IO_URING;
	else if (engine == "epoll")
		c.engine = SERVER_ENGINE_EPOLL;
	else
		throw Napi::RangeError::New(env, s.Path("engine") + " must be 'io_uring' or 'epoll' (got '" + engine + "')");
	// The ring knobs below are parsed (and checked) whichever engine runs; epoll ignores them.
	// server.rings: worker threads, each with its own ring (or epoll set) and SO_REUSEPORT listener.
	c.workers = (unsigned)s.Integer("rings", 1, SERVER_WORKERS_MAX);
	c.napi_busy_poll_us = (unsigned)s.Integer("napiBusyPollUs", 0, 1e6);
	c.min_wait_us = (unsigned)s.Integer("minWaitUs", 0, 1e6);
	// server.numa: the host checks the nodes and CPUs exist; here only types and bounds.
	Fields numa = s.Object("numa");
	Napi::Value node = numa.Get("node");
	if (node.IsNull())
		c.numa_node = -1;
	else if (node.IsNumber())
		c.numa_node = (int)numa.Integer("node", 0, 1023);
	else
		ThrowType(env, numa.Path("node"), "a number or null", node);
	Napi::Value cpus = numa.Get("cpus");
	if (cpus.IsArray()) {
		Napi::Array a = cpus.As<Napi::Array>();
		if (a.Length() < 1 || a.Length() > SERVER_CPUS_MAX)
			throw Napi::RangeError::New(env, numa.Path("cpus") + " must list 1 to " + std::to_string(SERVER_CPUS_MAX) +
								 " CPUs (got " + std::to_string(a.Length()) + ")");
		for (uint32_t i = 0; i < a.Length(); i++) {
			Napi::Value v = a.Get(i);
			std::string path = numa.Path("cpus") + "[" + std::to_string(i) + "]";
			if (!v.IsNumber())
				ThrowType(env, path, "a number", v);
			double d = v.As<Napi::Number>().DoubleValue();
			if (!std::isfinite(d) || std::floor(d) != d || d < 0 || d > 4095)
				throw Napi::RangeError::New(env, path + " must be an integer between 0 and 4095");
			c.cpus[i] = (int)d;
		}
		c.ncpus = a.Length();
	} else if (!cpus.IsNull()) {
		ThrowType(env, numa.Path("cpus"), "an array of CPU numbers or null", cpus);
	}

	c.ring.entries = (unsigned)s.Integer("ringEntries", 1, 32768);

	Fields sq = s.Object("sqpoll");
	c.ring.sqpoll = sq.Bool("enabled");
	Napi::Value cpu = sq.Get("cpu");
	if (cpu.IsNull())
		c.ring.sqpoll_cpu = -1;
	else if (cpu.IsNumber())
		c.ring.sqpoll_cpu = (int)sq.Integer("cpu", 0, 1 << 20);
	else
		ThrowType(env, sq.Path("cpu"), "a number or null", cpu);
	c.ring.sqpoll_idle_ms = (unsigned)sq.Integer("idleMs", 0, 4294967295.0);
	c.sqpoll_shared = sq.Bool("shared");

	const char *modes = "'defer', 'coop' or 'default'";
	std::string taskrun = s.String("taskrun", modes);
	if (taskrun == "defer")
		c.ring.taskrun = TASKRUN_DEFER;
	else if (taskrun == "coop")
		c.ring.taskrun = TASKRUN_COOP;
	else if (taskrun == "default")
		c.ring.taskrun = TASKRUN_DEFAULT;
	else
		throw Napi::TypeError::New(env, s.Path("taskrun") + " must be " + modes + " (got '" + taskrun + "')");
	// The server's ring is its worker thread's alone, in every task-run mode (uring_echo.c).
	c.ring.single_issuer = 1;
	c.ring.register_fd = s.Bool("registeredRingFd");
	c.ring.iopoll = s.Bool("iopoll");

	Fields br = s.Object("bufferRing");
	c.buf_size = (unsigned)br.Integer("size", 1, 1 << 30);
	c.buf_count = (unsigned)br.Integer("count", 1, 65536);
	c.buf_hugepages = br.Bool("hugepages");
	c.buf_incremental = br.Bool("incremental");
	c.buf_hot_first = br.Bool("hotFirst");
	// The receive and send path (the io_uring server's; epoll ignores them).
	c.multishot = s.Bool("multishot");
	c.recv_on_ready = s.Bool("recvOnReady");
	c.recv_bundle = s.Bool("recvBundle");
	c.send_zc = s.Bool("sendZeroCopy");
	c.registered_buffers = s.Bool("registeredBuffers");
	c.direct_descriptors = s.Bool("directDescriptors");
	c.quiet_sends = s.Bool("quietSends");

	// server.socket: options of every worker's listener, inherited by the accepted sockets.
	Fields sock = s.Object("socket");
	Napi::Value cc = sock.Get("congestion");
	if (cc.IsString()) {
		std::string name = cc.As<Napi::String>().Utf8Value();
		bool ok = !name.empty() && name.size() < sizeof(c.congestion);
		for (char ch : name)
			ok = ok && ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-');
		if (!ok)
			throw Napi::RangeError::New(env, sock.Path("congestion") + " must be a congestion control name of 1 to " +
								 std::to_string(sizeof(c.congestion) - 1) + " characters a-z, 0-9, _ or -");
		std::memcpy(c.congestion, name.c_str(), name.size() + 1);
	} else if (!cc.IsNull()) {
		ThrowType(env, sock.Path("congestion"), "a congestion control name or null", cc);
	}
	for (auto [key, into] : { std::pair<const char *, unsigned *>{ "receiveBufferBytes", &c.rcvbuf },
				  std::pair<const char *, unsigned *>{ "sendBufferBytes", &c.sndbuf } }) {
		Napi::Value v = sock.Get(key);
		if (v.IsNull())
			*into = 0;
		else if (v.IsNumber())
			*into = (unsigned)sock.Integer(key, SERVER_SOCKET_BUFFER_MIN, SERVER_SOCKET_BUFFER_MAX);
		else
			ThrowType(env, sock.Path(key), "a number of bytes or null", v);
	}
	return c;
}

// workload "storage" and its `storage` subtree (absent: the echo workload). The host resolved
// storage.path (null: the test file it created) and checked it may be used; fill, verify and
// seed are the host's, not profile knobs. The server's ring knobs apply to each job's ring.
void ParseStorage(const Fields &c, engine_config &cfg)
{
	Napi::Env env = c.Env();
	Napi::Value workload = c.Get("workload");
	if (workload.IsUndefined() || workload.IsNull())
		return;
	std::string w = c.String("workload", "'echo' or 'storage'");
	if (w == "echo")
		return;
	if (w != "storage")
		throw Napi::RangeError::New(env, c.Path("workload") + " must be 'echo' or 'storage' (got '" + w.substr(0, 64) + "')");
	cfg.storage_workload = 1;
	Fields s = c.Object("storage");
	storage_config &st = cfg.storage;
	std::string path = s.String("path", "a path string (the host resolves null to its test file)");
	if (path.empty() || path.size() >= sizeof(st.path) || path.find('\0') != std::string::npos)
		throw Napi::RangeError::New(env, s.Path("path") + " must be a non-empty path shorter than " +
							 std::to_string(sizeof(st.path)) + " bytes");
	std::memcpy(st.path, path.c_str(), path.size() + 1);
	st.size_bytes = (uint64_t)s.Integer("fileSizeMiB", 1, 1 << 24) << 20;
	st.block_bytes = (unsigned)s.Integer("blockBytes", 512, 1 << 24);
	if (st.block_bytes % 512)
		throw Napi::RangeError::New(env, s.Path("blockBytes") + " must be a multiple of 512");
	std::string pattern = s.String("pattern", "'randread', 'read', 'randwrite' or 'write'");
	if (pattern == "randread")
		st.pattern = STORAGE_RANDREAD;
	else if (pattern == "read")
		st.pattern = STORAGE_READ;
	else if (pattern == "randwrite")
		st.pattern = STORAGE_RANDWRITE;
	else if (pattern == "write")
		st.pattern = STORAGE_WRITE;
	else
		throw Napi::RangeError::New(env, s.Path("pattern") + " must be 'randread', 'read', 'randwrite' or 'write' (got '" +
							 pattern.substr(0, 64) + "')");
	st.queue_depth = (unsigned)s.Integer("queueDepth", 1, 4096);
	Napi::Value submit_batch = s.Get("submitBatch");
	st.submit_batch = submit_batch.IsUndefined() ? 1 : (unsigned)s.Integer("submitBatch", 1, 4096);
	st.direct = s.Bool("direct");
	Napi::Value fill = s.Get("fill"), verify = s.Get("verify"), seed = s.Get("seed");
	st.fill = fill.IsUndefined() ? 0 : s.Bool("fill");
	st.verify = verify.IsUndefined() ? 0 : s.Bool("verify");
	st.seed = seed.IsUndefined() ? 0 : (uint64_t)s.Integer("seed", 0, 9007199254740991.0);
	st.ring = cfg.server.ring;
	st.registered_buffers = cfg.server.registered_buffers;
	st.direct_descriptors = cfg.server.direct_descriptors;
	cfg.load.kind = LOAD_STORAGE;
}

} // namespace

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

engine_config ParseEngineConfig(Napi::Env env, const Napi::Value &config)
{
	Fields c(env, config, "config");
	engine_config cfg;
	std::memset(&cfg, 0, sizeof(cfg));

	Napi::Value protocol = c.Get("protocol");
	if (!protocol.IsNumber() || protocol.As<Napi::Number>().DoubleValue() != kProtocolVersion)
		throw Napi::TypeError::New(env, "config.protocol must be " + std::to_string(kProtocolVersion) + " (got " +
							(protocol.IsNumber() ? protocol.ToString().Utf8Value() : TypeName(protocol)) +
							")");

	cfg.server = ParseServer(c.Object("server"));
	cfg.server.port = (uint16_t)c.Integer("port", 0, 65535);
	cfg.max_duration_ms = (uint64_t)c.Integer("maxDurationMs", 1, 1e12);
	// Descriptors the host will open in this process after the start (the eBPF probes' maps,
	// programs and links): the RLIMIT_NOFILE check counts them. Absent: none.
	cfg.fd_reserve = c.Get("fdReserve").IsUndefined() ? 0 : (unsigned)c.Integer("fdReserve", 0, 1 << 20);

	Fields load = c.Object("load");
	cfg.load.kind = LOAD_ECHO;
	cfg.load.connections = (unsigned)load.Integer("connections", 0, 65536);
	cfg.server.expected_conns = cfg.load.connections;
	cfg.load.msg_bytes = (unsigned)load.Integer("messageBytes", 1, 1 << 30);
	cfg.load.threads = (unsigned)load.Integer("threads", 1, LOAD_THREADS_MAX);
	// load.mode / pipeline / rateRps / timeoutMs / cpus: the host checks that the CPUs exist
	// and that open mode has a rate; here types and hard bounds (and the rate, which the
	// schedule divides by). Each may be absent (callers from before them): the closed loop
	// with one message per connection and no timeout.
	Napi::Value vmode = load.Get("mode");
	std::string mode = vmode.IsUndefined() ? "closed" : load.String("mode", "'closed' or 'open'");
	if (mode == "closed")
		cfg.load.mode = LOAD_CLOSED;
	else if (mode == "open")
		cfg.load.mode = LOAD_OPEN;
	else
		throw Napi::RangeError::New(env, load.Path("mode") + " must be 'closed' or 'open' (got '" + mode.substr(0, 64) + "')");
	cfg.load.pipeline = load.Get("pipeline").IsUndefined() ? 1 : (unsigned)load.Integer("pipeline", 1, 4096);
	Napi::Value rate = load.Get("rateRps");
	if (rate.IsNumber()) {
		double r = rate.As<Napi::Number>().DoubleValue();
		if (!std::isfinite(r) || r <= 0 || r > 1e9)
			throw Napi::RangeError::New(env, load.Path("rateRps") + " must be above 0 and at most 1e9");
		cfg.load.rate_rps = r;
	} else if (!rate.IsNull() && !rate.IsUndefined()) {
		ThrowType(env, load.Path("rateRps"), "a number or null", rate);
	}
	if (cfg.load.mode == LOAD_OPEN && cfg.load.rate_rps <= 0)
		throw Napi::RangeError::New(env, load.Path("rateRps") + " is required when load.mode is 'open'");
	cfg.load.timeout_ms = load.Get("timeoutMs").IsUndefined() ? 0 : (uint64_t)load.Integer("timeoutMs", 0, 3.6e6);
	Napi::Value lcpus = load.Get("cpus");
	if (lcpus.IsArray()) {
		Napi::Array a = lcpus.As<Napi::Array>();
		if (a.Length() < 1 || a.Length() > LOAD_THREADS_MAX)
			throw Napi::RangeError::New(env, load.Path("cpus") + " must list 1 to " + std::to_string(LOAD_THREADS_MAX) +
								 " CPUs (got " + std::to_string(a.Length()) + ")");
		for (uint32_t i = 0; i < a.Length(); i++) {
			Napi::Value v = a.Get(i);
			std::string path = load.Path("cpus") + "[" + std::to_string(i) + "]";
			if (!v.IsNumber())
				ThrowType(env, path, "a number", v);
			double d = v.As<Napi::Number>().DoubleValue();
			if (!std::isfinite(d) || std::floor(d) != d || d < 0 || d > 4095)
				throw Napi::RangeError::New(env, path + " must be an integer between 0 and 4095");
			cfg.load.cpus[i] = (int)d;
		}
		cfg.load.ncpus = a.Length();
	} else if (!lcpus.IsNull() && !lcpus.IsUndefined()) {
		ThrowType(env, load.Path("cpus"), "an array of CPU numbers or null", lcpus);
	}

	// bind (uring-lab server --bind): the IPv4 address the server listens on; absent or null,
	// 127.0.0.1. Dotted form only: the host resolves nothing here.
	Napi::Value bind = c.Get("bind");
	if (!bind.IsUndefined() && !bind.IsNull()) {
		std::string addr = c.String("bind", "an IPv4 address string or null");
		struct in_addr a;
		if (addr.size() > 15 || inet_pton(AF_INET, addr.c_str(), &a) != 1)
			throw Napi::RangeError::New(env, "config.bind must be an IPv4 address such as 0.0.0.0 (got '" +
							 addr.substr(0, 64) + "')");
		cfg.server.bind_given = 1;
		cfg.server.bind_addr = a.s_addr;
	}

	// serverNetns (topology "veth"): the namespace file (/run/netns/NAME, made by the host's
	// electron/host/run/veth.ts) the server workers join before listening; absent or null: none.
	Napi::Value netns = c.Get("serverNetns");
	if (!netns.IsUndefined() && !netns.IsNull()) {
		std::string path = c.String("serverNetns", "a /run/netns path or null");
		if (path.empty() || path[0] != '/' || path.size() >= sizeof(cfg.server.netns))
			throw Napi::RangeError::New(env, "config.serverNetns must be an absolute path shorter than " +
							 std::to_string(sizeof(cfg.server.netns)) + " bytes (got '" +
							 path.substr(0, 64) + "')");
		memcpy(cfg.server.netns, path.c_str(), path.size() + 1);
	}

	// target (uring-lab load): someone else's echo server; absent or null, ours on 127.0.0.1.
	// The host resolves names: here only a dotted IPv4 address.
	Napi::Value target = c.Get("target");
	if (!target.IsUndefined() && !target.IsNull()) {
		Fields t = c.Object("target");
		std::string host = t.String("host", "an IPv4 address string");
		struct in_addr a;
		if (host.size() > 15 || inet_pton(AF_INET, host.c_str(), &a) != 1)
			throw Napi::RangeError::New(env, t.Path("host") + " must be an IPv4 address such as 10.0.0.2 (got '" +
								 host.substr(0, 64) + "')");
		cfg.target.enabled = 1;
		cfg.target.addr = a.s_addr;
		cfg.target.port = (uint16_t)t.Integer("port", 1, 65535);
		if (cfg.load.connections < 1)
			throw Napi::RangeError::New(env, "config.load.connections must be at least 1 with a target (got 0: "
							 "a load with no connection would measure nothing)");
	}
	ParseStorage(c, cfg);
	return cfg;
}

server_config ParseServerConfig(Napi::Env env, const Napi::Value &server, const std::string &path)
{
	return ParseServer(Fields(env, server, path));
}

double NumberArg(const Napi::CallbackInfo &info, size_t i, const char *call, const char *name)
{
	if (!info[i].IsNumber())
		throw Napi::TypeError::New(info.Env(), std::string(call) + ": " + name + " must be a number (got " +
							       TypeName(info[i]) + ")");
	return info[i].As<Napi::Number>().DoubleValue();
}
