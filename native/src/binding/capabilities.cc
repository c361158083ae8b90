// probeCapabilities(): what this kernel's io_uring accepts, from throw-away rings.
// Independent of a running engine, so `doctor` may ask while an experiment runs.
#include "binding/errno_words.h"
#include "binding/exports.h"
#include "binding/marshal.h"
#include "core/capabilities.h"

namespace {

Napi::Object ProbeResultObject(Napi::Env env, int err)
{
	Napi::Object o = Napi::Object::New(env);
	o.Set("errno", err < 0 ? -err : 0);
	o.Set("code", err < 0 ? ErrnoCode(-err) : "OK");
	o.Set("reason", err < 0 ? ErrnoText(-err) : "accepted");
	return o;
}

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

} // namespace

void ExportCapabilities(Napi::Env env, Napi::Object exports)
{
	SetFunctions(env, exports, { { "probeCapabilities", ProbeCapabilities } });
}
