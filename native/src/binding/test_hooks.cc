// Test and teaching hooks (index.d.ts says what each is for): pausing or killing the server
// loop of a running engine, and running the ring-setup fallback against a fake kernel.
#include <cerrno>
#include <cmath>
#include <cstring>
#include <vector>

#include <liburing.h>

#include "binding/config.h"
#include "binding/errno_words.h"
#include "binding/exports.h"
#include "binding/marshal.h"
#include "core/sqe.h"

namespace {

// A stand-in for io_uring_queue_init_params: refuses an attempt whose flags include every
// flag of a rule (the first such rule's errno), accepts anything else, and remembers every
// attempt's flags. It never touches the io_uring struct, so nothing needs to be exited. A rule
// naming REGISTERED_RING_FD refuses the fd registration instead, on a ring whose flags include
// the rule's other flags. Like the real kernel, it refuses the socket op that follows an
// accepted IOPOLL ring with EINVAL (unless a rule names IOPOLL, which refuses the setup itself).
struct FakeKernel {
	struct Rule {
		unsigned flags;
		int err; // positive
	};
	std::vector<Rule> rules;
	std::vector<unsigned> attempts;
	unsigned accepted = 0; // flags of the last accepted attempt

	static unsigned Pow2(unsigned n)
	{
		unsigned p = 1;
		while (p < n)
			p <<= 1;
		return p;
	}

	static int Init(void *ctx, unsigned entries, struct io_uring *, struct io_uring_params *p)
	{
		FakeKernel *k = static_cast<FakeKernel *>(ctx);
		k->attempts.push_back(p->flags);
		for (const Rule &r : k->rules)
			if ((p->flags & r.flags) == r.flags)
				return -r.err;
		p->sq_entries = Pow2(entries);
		p->cq_entries = Pow2((p->flags & IORING_SETUP_CQSIZE) ? p->cq_entries : 2 * entries);
		p->features = 0;
		k->accepted = p->flags;
		return 0;
	}

	static void Exit(void *, struct io_uring *) {}

	static int RegisterFd(void *ctx, struct io_uring *)
	{
		FakeKernel *k = static_cast<FakeKernel *>(ctx);
		unsigned have = k->accepted | RING_SETTING_REGISTERED_FD;
		for (const Rule &r : k->rules)
			if ((r.flags & RING_SETTING_REGISTERED_FD) && (have & r.flags) == r.flags)
				return -r.err;
		return 1;
	}

	static int SocketCheck(void *ctx, struct io_uring *)
	{
		FakeKernel *k = static_cast<FakeKernel *>(ctx);
		return (k->accepted & IORING_SETUP_IOPOLL) ? -EINVAL : 0;
	}
};

std::vector<FakeKernel::Rule> ParseRules(Napi::Env env, const Napi::Value &v)
{
	std::vector<FakeKernel::Rule> rules;
	if (!v.IsArray())
		throw Napi::TypeError::New(env, "refusals must be an array (got " + TypeName(v) + ")");
	Napi::Array a = v.As<Napi::Array>();
	for (uint32_t i = 0; i < a.Length(); i++) {
		std::string path = "refusals[" + std::to_string(i) + "]";
		Napi::Value item = a.Get(i);
		if (!item.IsObject() || !item.As<Napi::Object>().Get("flags").IsArray())
			throw Napi::TypeError::New(env, path + " must be { flags: string[], errno: number }");
		Napi::Object o = item.As<Napi::Object>();
		Napi::Array flags = o.Get("flags").As<Napi::Array>();
		FakeKernel::Rule rule = { 0, 0 };
		for (uint32_t j = 0; j < flags.Length(); j++) {
			std::string name = flags.Get(j).ToString().Utf8Value();
			unsigned bit = FlagBit(name);
			if (!bit)
				throw Napi::TypeError::New(env, path + ".flags has an unknown ring setup flag '" + name + "'");
			rule.flags |= bit;
		}
		Napi::Value e = o.Get("errno");
		if (!e.IsNumber() || e.As<Napi::Number>().DoubleValue() < 1 || e.As<Napi::Number>().DoubleValue() > 4095)
			throw Napi::RangeError::New(env, path + ".errno must be a positive errno");
		rule.err = e.As<Napi::Number>().Int32Value();
		rules.push_back(rule);
	}
	return rules;
}

Napi::Value DebugPauseServer(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	double ms = NumberArg(info, 0, "debugPauseServer(ms)", "ms");
	if (!(ms >= 1 && ms <= 60000) || std::floor(ms) != ms)
		throw Napi::RangeError::New(env, "debugPauseServer(ms): ms must be an integer between 1 and 60000");
	return Napi::Boolean::New(env, engine_debug_pause_server((unsigned)ms) == 0);
}

Napi::Value DebugFailServer(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	double e = NumberArg(info, 0, "debugFailServer(errno)", "errno");
	// The loop survives EINTR/EAGAIN/EBUSY/ETIME from io_uring_enter: those would not kill it.
	if (!(e >= 1 && e <= 4095) || std::floor(e) != e || !submit_failed(-(int)e))
		throw Napi::RangeError::New(env, "debugFailServer(errno): errno must be a positive errno other than "
						 "EINTR, EAGAIN, EBUSY or ETIME");
	return Napi::Boolean::New(env, engine_debug_fail_server(-(int)e) == 0);
}

// debugRingFallback(request, refusals): the real ring_setup fallback against FakeKernel.
Napi::Value DebugRingFallback(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	server_config server = ParseServerConfig(env, info[0], "request");
	FakeKernel kernel;
	kernel.rules = ParseRules(env, info[1]);
	const ring_creator creator = { FakeKernel::Init, FakeKernel::Exit, FakeKernel::RegisterFd, FakeKernel::SocketCheck, &kernel };
	struct io_uring ring;
	ring_setup_result res;

	std::memset(&ring, 0, sizeof(ring));
	int ret = ring_setup_with(&creator, &ring, &server.ring, &res);
	// No server runs here: its receive/send path reads as requested (only the ring is on trial).
	res.multishot = server.multishot;
	res.recv_on_ready = server.recv_on_ready;
	res.recv_bundle = server.recv_bundle;
	res.buf_incremental = server.buf_incremental;
	res.send_zc = server.send_zc;
	res.registered_buffers = server.registered_buffers;
	res.direct_descriptors = server.direct_descriptors;
	res.quiet_sends = server.quiet_sends;

	Napi::Object out = Napi::Object::New(env);
	if (ret) {
		Napi::Object error = Napi::Object::New(env);
		error.Set("errno", -ret);
		error.Set("code", ErrnoCode(-ret));
		error.Set("errnoText", ErrnoText(-ret));
		out.Set("error", error);
	} else {
		out.Set("error", env.Null());
	}
	out.Set("applied", AppliedServer(env, server, res));
	out.Set("refused", RefusedSettings(env, res, server));
	out.Set("ring", RingObject(env, res));
	Napi::Array attempts = Napi::Array::New(env, kernel.attempts.size());
	for (uint32_t i = 0; i < kernel.attempts.size(); i++)
		attempts.Set(i, FlagNames(env, kernel.attempts[i]));
	out.Set("attempts", attempts);
	return out;
}

} // namespace

void ExportTestHooks(Napi::Env env, Napi::Object exports)
{
	SetFunctions(env, exports,
		     { { "debugPauseServer", DebugPauseServer },
		       { "debugFailServer", DebugFailServer },
		       { "debugRingFallback", DebugRingFallback } });
}
