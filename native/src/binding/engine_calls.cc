// The engine's lifecycle from JS: start/startAsync, snapshot, stop/stopAsync, memoryNeeds.
//
// The Node environment (main thread or a worker) that started the engine is its owner (set
// when a start is claimed, so an async start counts too). If it is torn down without stop(),
// its cleanup hook stops the engine, waiting for a start or stop in progress first, so no
// native thread outlives the JS that owns it.
#include <atomic>
#include <sched.h>
#include <string>
#include <vector>
#include <cstdio>
#include <cerrno>
#include <cstring>

#include "binding/config.h"
#include "binding/exports.h"
#include "binding/marshal.h"
#include "binding/start_errors.h"
#include "core/lab_threads.h"

namespace {

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

// Work on libuv's pool that holds the engine's claim until its promise settles on the JS
// thread (engine_settle), so "in progress" means the same to C and to JS.
class HeldWork : public Napi::AsyncWorker {
public:
	HeldWork(Napi::Env env, const char *name)
		: Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env))
	{
	}

	Napi::Promise Promise() const { return deferred_.Promise(); }

protected:
	void Settle()
	{
		if (!settled_)
			engine_settle();
		settled_ = true;
	}

	Napi::Promise::Deferred deferred_;
	bool executed_ = false;

private:
	bool settled_ = false;
};

// startAsync: the config is parsed and the engine claimed (IDLE -> STARTING)
// on the JS thread, so a bad config or a second start is refused at once
// and a snapshot() meanwhile returns null; the connects and thread start-ups
// run on libuv's pool.
class StartWork : public HeldWork {
public:
	StartWork(Napi::Env env, const engine_config &cfg) : HeldWork(env, "uring_lab.startAsync"), cfg_(cfg)
	{
		std::memset(&out_, 0, sizeof(out_));
		std::memset(&err_, 0, sizeof(err_));
	}

protected:
	void Execute() override
	{
		executed_ = true;
		if (engine_start_finish(&cfg_, &out_, &err_, 1))
			SetError("start failed"); // the words are made in OnError, on the JS thread
	}

	void OnOK() override
	{
		Settle();
		SettleJs([&] { deferred_.Resolve(StartResultObject(Env(), out_, cfg_)); });
	}

	void OnError(const Napi::Error &) override
	{
		Settle();
		ReleaseOwner(Env());
		SettleJs([&] { deferred_.Reject(StartError(Env(), err_, cfg_).Value()); });
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
	engine_config cfg_;
	engine_started out_;
	engine_error err_;
};

// stopAsync: claimed on the JS thread (RUNNING -> STOPPING), joined and drained on the pool.
class StopWork : public HeldWork {
public:
	explicit StopWork(Napi::Env env) : HeldWork(env, "uring_lab.stopAsync") { std::memset(&snap_, 0, sizeof(snap_)); }

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
	struct engine_snapshot snap_;
};

Napi::Promise Rejected(Napi::Env env, const Napi::Error &e)
{
	Napi::Promise::Deferred d = Napi::Promise::Deferred::New(env);
	d.Reject(e.Value());
	return d.Promise();
}

Napi::Value Start(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	engine_config cfg = ParseEngineConfig(env, info[0]);
	engine_started out;
	engine_error err;

	std::memset(&out, 0, sizeof(out));
	if (engine_start_begin())
		throw BusyError(env, false);
	g_owner.store(env);
	if (engine_start_finish(&cfg, &out, &err, 0)) {
		ReleaseOwner(env);
		throw StartError(env, err, cfg);
	}
	return StartResultObject(env, out, cfg);
}

Napi::Value StartAsync(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	engine_config cfg;

	try {
		cfg = ParseEngineConfig(env, info[0]);
	} catch (const Napi::Error &e) {
		return Rejected(env, e);
	}
	if (engine_start_begin())
		return Rejected(env, BusyError(env, false));
	g_owner.store(env);
	StartWork *w = new StartWork(env, cfg);
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

Napi::Value StopAsync(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int ret = engine_stop_begin();
	if (ret == -ENOTCONN) {
		Napi::Promise::Deferred d = Napi::Promise::Deferred::New(env);
		d.Resolve(env.Null());
		return d.Promise();
	}
	if (ret)
		return Rejected(env, BusyError(env, true));
	StopWork *w = new StopWork(env);
	Napi::Promise promise = w->Promise();
	w->Queue();
	return promise;
}

// What start(config) would allocate, from the functions the allocations use; validates the
// config exactly like start().
Napi::Value MemoryNeeds(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	engine_config cfg = ParseEngineConfig(env, info[0]);
	struct engine_memory m;

	engine_memory_needs(&cfg, &m);
	return MemoryNeedsObject(env, m);
}

// The prefixes of thread names a walk skips (lab_threads_each), from a JS string array; `ptrs`
// points into `names`.
static void SkipPrefixes(Napi::Array skip, std::vector<std::string> &names, std::vector<const char *> &ptrs)
{
	for (uint32_t i = 0; i < skip.Length(); i++)
		names.push_back(skip.Get(i).As<Napi::String>().Utf8Value());
	for (const auto &n : names)
		ptrs.push_back(n.c_str());
}

struct PinArg {
	cpu_set_t mask;
	int set;
	bool refused; // sched_setaffinity refused a thread (else a failed walk is the directory's)
};

// 0 for a thread that ended meanwhile, -errno (ending the walk) for another refusal.
static int PinOne(pid_t tid, void *arg)
{
	PinArg *p = static_cast<PinArg *>(arg);
	if (sched_setaffinity(tid, sizeof(p->mask), &p->mask) == 0)
		p->set++;
	else if (errno != ESRCH && errno != ENOENT) {
		p->refused = true;
		return -errno;
	}
	return 0;
}

// pinThreads(pid, cpus, skipPrefixes): sets the scheduler affinity of every thread of process
// `pid` (0: this one) whose name starts with none of skipPrefixes to `cpus`; returns how many
// it set. The engine keeps the lab's bookkeeping threads (its JS thread, libuv's and V8's
// helpers, and its host's) off the CPUs the user gave the load generator, and puts them back
// when the run ends. Threads that come and go meanwhile are simply missed (ESRCH/ENOENT).
Napi::Value PinThreads(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsArray() || !info[2].IsArray())
		throw Napi::TypeError::New(env, "pinThreads(pid: number, cpus: number[], skipPrefixes: string[])");
	int pid = info[0].As<Napi::Number>().Int32Value();
	Napi::Array cpus = info[1].As<Napi::Array>();
	PinArg arg;
	arg.set = 0;
	arg.refused = false;
	CPU_ZERO(&arg.mask);
	for (uint32_t i = 0; i < cpus.Length(); i++) {
		int c = cpus.Get(i).As<Napi::Number>().Int32Value();
		if (c < 0 || c >= CPU_SETSIZE)
			throw Napi::RangeError::New(env, "pinThreads: cpu " + std::to_string(c) + " out of range");
		CPU_SET(c, &arg.mask);
	}
	if (CPU_COUNT(&arg.mask) == 0)
		throw Napi::RangeError::New(env, "pinThreads: no CPU given");
	std::vector<std::string> names;
	std::vector<const char *> prefixes;
	SkipPrefixes(info[2].As<Napi::Array>(), names, prefixes);

	int ret = lab_threads_each(pid, prefixes.data(), (int)prefixes.size(), PinOne, &arg);
	if (ret < 0) {
		std::string dir = pid > 0 ? "/proc/" + std::to_string(pid) + "/task" : "/proc/self/task";
		throw Napi::Error::New(env, arg.refused ? std::string("pinThreads: sched_setaffinity: ") + strerror(-ret)
							: "pinThreads: " + dir + ": " + strerror(-ret));
	}
	return Napi::Number::New(env, arg.set);
}

// setLabThreadsBatch(pid, batch, skipPrefixes): every thread of process `pid` (0: this one)
// whose name starts with none of skipPrefixes to SCHED_BATCH (batch true) or back to
// SCHED_OTHER (core/lab_threads.h says why and which it leaves alone); returns how many it
// changed. The engine's bookkeeping threads and its host's, for the time a run serves.
Napi::Value SetLabThreadsBatch(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsBoolean() || !info[2].IsArray())
		throw Napi::TypeError::New(env, "setLabThreadsBatch(pid: number, batch: boolean, skipPrefixes: string[])");
	int pid = info[0].As<Napi::Number>().Int32Value();
	std::vector<std::string> names;
	std::vector<const char *> prefixes;
	SkipPrefixes(info[2].As<Napi::Array>(), names, prefixes);
	int n = lab_threads_set_batch(pid, info[1].As<Napi::Boolean>().Value() ? 1 : 0, prefixes.data(), (int)prefixes.size());
	if (n < 0)
		throw Napi::Error::New(env, std::string("setLabThreadsBatch: ") + strerror(-n));
	return Napi::Number::New(env, n);
}

// Echoes per load connection since the start (cumulative), or null: see index.d.ts.
Napi::Value ConnectionEchoes(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	uint64_t *counts = nullptr;
	unsigned n = 0;
	uint64_t run = 0;
	int ret = engine_connection_echoes(&counts, &n, &run);
	if (ret == -ENOTCONN)
		return env.Null();
	if (ret)
		throw Napi::Error::New(env, std::string("connectionEchoes: ") + strerror(-ret));
	// Float64Array: exact to 2^53 echoes per connection, and one allocation for thousands.
	Napi::Float64Array out = Napi::Float64Array::New(env, n);
	for (unsigned i = 0; i < n; i++)
		out[i] = (double)counts[i];
	free(counts);
	Napi::Object result = Napi::Object::New(env);
	result.Set("run", Napi::Number::New(env, (double)run));
	result.Set("counts", out);
	return result;
}

// Any time, from the JS thread: the start in progress (on the pool) unwinds at its next
// set-up step that looks, and its promise rejects at step START_CANCELLED (ECANCELED).
Napi::Value CancelStart(const Napi::CallbackInfo &info)
{
	return Napi::Boolean::New(info.Env(), engine_start_cancel() == 0);
}

} // namespace

void ExportEngineCalls(Napi::Env env, Napi::Object exports)
{
	napi_add_env_cleanup_hook(env, CleanupHook, static_cast<napi_env>(env));
	SetFunctions(env, exports,
		     { { "start", Start }, { "startAsync", StartAsync }, { "snapshot", Snapshot }, { "stop", Stop },
		       { "stopAsync", StopAsync }, { "cancelStart", CancelStart }, { "connectionEchoes", ConnectionEchoes }, { "memoryNeeds", MemoryNeeds },
		       { "pinThreads", PinThreads }, { "setLabThreadsBatch", SetLabThreadsBatch } });
}
