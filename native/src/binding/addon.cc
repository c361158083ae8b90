// The addon's entry. The binding is split by job: config.cc reads configs, errno_words.cc is
// the one place an errno becomes words, start_errors.cc and marshal.cc shape what goes back to
// JS, and each of engine_calls.cc, histogram.cc, capabilities.cc, test_hooks.cc and probes.cc
// exports its own functions (index.d.ts documents them all).
#include <napi.h>

#include "binding/config.h"
#include "binding/exports.h"

void SetFunctions(Napi::Env env, Napi::Object exports, std::initializer_list<ExportedFunction> functions)
{
	for (const ExportedFunction &f : functions)
		exports.Set(f.name, Napi::Function::New(env, f.fn, f.name));
}

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports)
{
	exports.Set("PROTOCOL_VERSION", Napi::Number::New(env, kProtocolVersion));
	ExportEngineCalls(env, exports);
	ExportHistogram(env, exports);
	ExportCapabilities(env, exports);
	ExportTestHooks(env, exports);
	ExportProbes(env, exports);
	ExportInject(env, exports);
	return exports;
}

} // namespace

NODE_API_MODULE(uring_lab, Init)
