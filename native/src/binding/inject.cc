// Fault injection (index.d.ts "Fault injection"): injectStart, injectStopAll, injectActive over
// inject/inject.h. Every refusal, bad argument included, is one Error with code
// 'INJECT_REFUSED', a one-line message (what and why), a fix, and the errno when there is one.
#include <cmath>
#include <cstring>
#include <string>

#include "binding/errno_words.h"
#include "binding/exports.h"
#include "core/clock.h"
#include "inject/inject.h"

namespace {

Napi::Error Refused(Napi::Env env, const std::string &message, const std::string &fix, int err, const char *field)
{
	Napi::Error error = Napi::Error::New(env, message + "; " + fix);
	error.Set("code", Napi::String::New(env, "INJECT_REFUSED"));
	error.Set("reason", Napi::String::New(env, message));
	error.Set("fix", Napi::String::New(env, fix));
	if (err) {
		error.Set("errno", Napi::Number::New(env, -err));
		error.Set("errnoCode", Napi::String::New(env, ErrnoCode(-err)));
	}
	if (field)
		error.Set("field", Napi::String::New(env, field));
	return error;
}

Napi::Array Pids(Napi::Env env, const inject_info &info)
{
	Napi::Array pids = Napi::Array::New(env, info.npids);
	for (uint32_t i = 0; i < info.npids; i++)
		pids.Set(i, Napi::Number::New(env, info.pids[i]));
	return pids;
}

// options → request; throws INJECT_REFUSED naming the field.
inject_request ParseRequest(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	inject_request req;

	std::memset(&req, 0, sizeof(req));
	if (info.Length() < 1 || !info[0].IsObject())
		throw Refused(env, "injectStart(options): options must be an object", "pass { kind, durationMs, cpus }", 0,
			      "options");
	Napi::Object o = info[0].As<Napi::Object>();
	Napi::Value kind = o.Get("kind");
	int k = -1;
	if (kind.IsString()) {
		std::string name = kind.As<Napi::String>().Utf8Value();
		for (int i = 0; i < INJECT_KINDS; i++)
			if (name == inject_kind_name((enum inject_kind)i))
				k = i;
	}
	if (k < 0)
		throw Refused(env, "injectStart: options.kind is not an injection",
			      "use one of cpuHog, memoryPressure, ioWqPunt, bufferStarvation, serverPause, softirqLoad", 0,
			      "kind");
	req.kind = (enum inject_kind)k;
	Napi::Value d = o.Get("durationMs");
	double ms = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : NAN;
	if (!(ms >= 1 && ms <= INJECT_DURATION_MAX_MS) || std::floor(ms) != ms)
		throw Refused(env, "injectStart: options.durationMs must be an integer number of ms",
			      "give durationMs between 1 and 60000", 0, "durationMs");
	req.duration_ms = (unsigned)ms;
	Napi::Value c = o.Get("cpus");
	if (!c.IsArray() || c.As<Napi::Array>().Length() > INJECT_CPUS_MAX)
		throw Refused(env, "injectStart: options.cpus must be an array of CPU numbers",
			      "pass the engine's CPUs (server.numa.cpus and load.cpus), or [] for every online CPU", 0, "cpus");
	Napi::Array cpus = c.As<Napi::Array>();
	for (uint32_t i = 0; i < cpus.Length(); i++) {
		Napi::Value v = cpus.Get(i);
		double cpu = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
		if (!(cpu >= 0 && cpu < INJECT_CPUS_MAX * 16) || std::floor(cpu) != cpu)
			throw Refused(env, "injectStart: options.cpus[" + std::to_string(i) + "] is not a CPU number",
				      "list CPU numbers such as [0, 1]", 0, "cpus");
		req.cpus[req.ncpus++] = (int)cpu;
	}
	return req;
}

Napi::Value InjectStart(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	inject_request req = ParseRequest(info);
	inject_info out;
	inject_refusal why;

	if (inject_start(&req, &out, &why))
		throw Refused(env, why.message, why.fix, why.err, nullptr);
	Napi::Object o = Napi::Object::New(env);
	o.Set("id", Napi::Number::New(env, out.id));
	o.Set("kind", Napi::String::New(env, inject_kind_name(out.kind)));
	o.Set("pids", Pids(env, out));
	o.Set("detail", Napi::String::New(env, out.detail));
	return o;
}

Napi::Value InjectStopAll(const Napi::CallbackInfo &info)
{
	inject_stop_all();
	return info.Env().Undefined();
}

Napi::Value InjectActive(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	static inject_info active[INJECT_ACTIVE_MAX];
	unsigned n = inject_active(active, INJECT_ACTIVE_MAX);
	uint64_t now = mono_ns();
	Napi::Array out = Napi::Array::New(env, n);

	for (unsigned i = 0; i < n; i++) {
		Napi::Object o = Napi::Object::New(env);
		o.Set("id", Napi::Number::New(env, active[i].id));
		o.Set("kind", Napi::String::New(env, inject_kind_name(active[i].kind)));
		o.Set("pids", Pids(env, active[i]));
		uint64_t left = active[i].deadline_ns > now ? active[i].deadline_ns - now : 0;
		o.Set("endsInMs", Napi::Number::New(env, (double)((left + NS_PER_MS - 1) / NS_PER_MS)));
		out.Set(i, o);
	}
	return out;
}

} // namespace

void ExportInject(Napi::Env env, Napi::Object exports)
{
	SetFunctions(env, exports,
		     { { "injectStart", InjectStart }, { "injectStopAll", InjectStopAll }, { "injectActive", InjectActive } });
	// A worker or a reloaded environment going away takes its injections with it; the process
	// dying is PR_SET_PDEATHSIG's job.
	env.AddCleanupHook([]() { inject_stop_all(); });
}
