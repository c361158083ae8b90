// probeCapabilities(): what this kernel's io_uring accepts, from throw-away rings.
// Independent of a running engine, so `doctor` may ask while an experiment runs.
#include "binding/errno_words.h"
#include "binding/exports.h"
#include "binding/marshal.h"
#include "core/capabilities.h"
#include "core/copy_placement.h"
#include "core/syscall_cost.h"

#include <cerrno>
#include <string>

namespace {

Napi::Object ProbeResultObject(Napi::Env env, int err)
{
	Napi::Object o = Napi::Object::New(env);
	o.Set("available", err == 0);
	o.Set("errno", err < 0 ? -err : 0);
	o.Set("code", err < 0 ? ErrnoCode(-err) : "OK");
	o.Set("reason", err < 0 ? ErrnoText(-err) : "accepted");
	return o;
}

// A capability the kernel states rather than one tried: a feature bit of a ring, or an opcode
// of io_uring_get_probe. Absent, there is no errno to give, so the code says ABSENT.
Napi::Object StatedResultObject(Napi::Env env, bool present, const std::string &what)
{
	Napi::Object o = Napi::Object::New(env);
	o.Set("available", present);
	o.Set("errno", 0);
	o.Set("code", present ? "OK" : "ABSENT");
	o.Set("reason", present ? "the kernel reports " + what : "the kernel does not report " + what);
	return o;
}

bool OpSupported(const struct capability_probe &caps, const char *name)
{
	for (int op = 0; op < caps.op_count; op++) {
		const char *n = capability_op_name(op);
		if (caps.op_supported[op] && n && std::string(n) == name)
			return true;
	}
	return false;
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
	out.Set("attachWq", ProbeResultObject(env, caps.attach_wq_err));
	out.Set("bufferRing", ProbeResultObject(env, caps.buf_ring_err));
	out.Set("incrementalBuffers", ProbeResultObject(env, caps.buf_ring_inc_err));
	out.Set("napi", ProbeResultObject(env, caps.napi_err));
	out.Set("registeredBuffers", ProbeResultObject(env, caps.registered_buffers_err));
	out.Set("sparseFiles", ProbeResultObject(env, caps.sparse_files_err));
	out.Set("multishotAccept", ProbeResultObject(env, caps.multishot_accept_err));
	out.Set("multishotRecv", ProbeResultObject(env, caps.multishot_recv_err));
	if (caps.short_slice_err == -EOPNOTSUPP) {
		// Taken and ignored: not a refusal with an errno.
		Napi::Object ignored = StatedResultObject(env, false, "");
		ignored.Set("code", "IGNORED");
		ignored.Set("reason", "the kernel took sched_attr.sched_runtime for a fair thread and kept its default slice");
		out.Set("shortSlice", ignored);
	} else {
		out.Set("shortSlice", ProbeResultObject(env, caps.short_slice_err));
	}
	out.Set("tcpDiag", ProbeResultObject(env, caps.tcp_diag_err));
	out.Set("tcpDestroyEvents", ProbeResultObject(env, caps.tcp_destroy_err));
	out.Set("recvBundle", StatedResultObject(env, (caps.features & CAPABILITY_FEAT_RECVSEND_BUNDLE) != 0,
						 "IORING_FEAT_RECVSEND_BUNDLE"));
	out.Set("minWait", StatedResultObject(env, (caps.features & CAPABILITY_FEAT_MIN_TIMEOUT) != 0,
					      "IORING_FEAT_MIN_TIMEOUT"));
	out.Set("sendZeroCopy", StatedResultObject(env, OpSupported(caps, "SEND_ZC"), "IORING_OP_SEND_ZC"));
	out.Set("sendmsgZeroCopy", StatedResultObject(env, OpSupported(caps, "SENDMSG_ZC"), "IORING_OP_SENDMSG_ZC"));
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

	// Not io_uring: what the kernel's copy into user memory costs by where the buffer starts
	// (copy_placement.h), for the doctor.
	struct copy_distance dist;
	copy_distance_measure(&dist);
	Napi::Object copy = Napi::Object::New(env);
	copy.Set("code", dist.err ? ErrnoCode(-dist.err) : "OK");
	copy.Set("reason", dist.err ? ErrnoText(-dist.err) : "measured");
	copy.Set("blockBytes", dist.block);
	copy.Set("nearOffset", dist.near_offset);
	copy.Set("farOffset", dist.far_offset);
	copy.Set("nearNs", dist.err ? env.Null() : Napi::Number::New(env, (double)dist.near_ns));
	copy.Set("farNs", dist.err ? env.Null() : Napi::Number::New(env, (double)dist.far_ns));
	out.Set("copyDistance", copy);

	// Not io_uring either: what one system call costs here (syscall_cost.h), for the doctor.
	struct syscall_cost sc;
	syscall_cost_measure(&sc);
	Napi::Object cost = Napi::Object::New(env);
	cost.Set("calls", sc.calls);
	cost.Set("getppidNs", sc.getppid_ns);
	cost.Set("enterCode", sc.enter_err ? ErrnoCode(-sc.enter_err) : "OK");
	cost.Set("enterNs", sc.enter_err ? env.Null() : Napi::Number::New(env, sc.enter_ns));
	out.Set("syscallCost", cost);
	return out;
}

} // namespace

void ExportCapabilities(Napi::Env env, Napi::Object exports)
{
	SetFunctions(env, exports, { { "probeCapabilities", ProbeCapabilities } });
}
