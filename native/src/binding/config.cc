// Engine protocol v1 config parsing; see config.h.
#include "binding/config.h"

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
	c.ring.register_fd = s.Bool("registeredRingFd");
	c.ring.iopoll = s.Bool("iopoll");

	Fields br = s.Object("bufferRing");
	c.buf_size = (unsigned)br.Integer("size", 1, 1 << 30);
	c.buf_count = (unsigned)br.Integer("count", 1, 65536);
	c.buf_hugepages = br.Bool("hugepages");
	c.buf_incremental = br.Bool("incremental");
	// The receive and send path (the io_uring server's; epoll ignores them).
	c.multishot = s.Bool("multishot");
	c.recv_bundle = s.Bool("recvBundle");
	c.send_zc = s.Bool("sendZeroCopy");
	c.registered_buffers = s.Bool("registeredBuffers");
	c.direct_descriptors = s.Bool("directDescriptors");
	return c;
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

	Fields load = c.Object("load");
	cfg.load.kind = LOAD_ECHO;
	cfg.load.connections = (unsigned)load.Integer("connections", 0, 65536);
	cfg.server.expected_conns = cfg.load.connections;
	cfg.load.msg_bytes = (unsigned)load.Integer("messageBytes", 1, 1 << 30);
	cfg.load.threads = (unsigned)load.Integer("threads", 1, LOAD_THREADS_MAX);
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
