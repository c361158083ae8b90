// How each binding file hands its functions to the addon's exports (addon.cc calls these);
// index.d.ts documents every function.
#ifndef URING_LAB_BINDING_EXPORTS_H
#define URING_LAB_BINDING_EXPORTS_H

#include <napi.h>

#include <initializer_list>

struct ExportedFunction {
	const char *name;
	Napi::Value (*fn)(const Napi::CallbackInfo &info);
};

// Sets each function on `exports` under its name.
void SetFunctions(Napi::Env env, Napi::Object exports, std::initializer_list<ExportedFunction> functions);

// engine_calls.cc: start/startAsync, snapshot, stop/stopAsync, memoryNeeds, and the cleanup
// hook that stops the engine when the environment that started it is torn down.
void ExportEngineCalls(Napi::Env env, Napi::Object exports);
// histogram.cc: histogramLayout, histogramIndex, histogramIndexNs.
void ExportHistogram(Napi::Env env, Napi::Object exports);
// capabilities.cc: probeCapabilities.
void ExportCapabilities(Napi::Env env, Napi::Object exports);
// test_hooks.cc: debugPauseServer, debugFailServer, debugRingFallback.
void ExportTestHooks(Napi::Env env, Napi::Object exports);
// probes.cc: probesAttach, probesRead, probesDetach, probesCheck (the eBPF probes),
// probeHelper, kernelHistogramLayout, kernelHistogramIndex.
void ExportProbes(Napi::Env env, Napi::Object exports);
// inject.cc: injectStart, injectStopAll, injectActive (fault injection).
void ExportInject(Napi::Env env, Napi::Object exports);

#endif
