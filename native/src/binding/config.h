// Reading engine protocol v1 configs (EngineConfig in index.d.ts) into the C core's structs.
// The host has validated the profile already (its knob catalogue has the real bounds); this
// only asserts types and hard safety bounds, and every message names the field as
// `config.<path>` (a TypeError for a wrong type, a RangeError for a value out of bounds).
#ifndef URING_LAB_BINDING_CONFIG_H
#define URING_LAB_BINDING_CONFIG_H

#include <napi.h>

#include <string>

#include "core/engine.h"

// The version of the engine protocol this addon speaks (config.protocol, StartResult.protocol).
constexpr int kProtocolVersion = 1;

// "string", "undefined", "array", ...: how a wrong value is named in messages.
std::string TypeName(const Napi::Value &v);

// A whole EngineConfig.
engine_config ParseEngineConfig(Napi::Env env, const Napi::Value &config);
// A `server` subtree alone, named `path` in messages (debugRingFallback's request).
server_config ParseServerConfig(Napi::Env env, const Napi::Value &server, const std::string &path);

// A number argument of a plain function: "histogramIndex(us): us must be a number (got string)".
double NumberArg(const Napi::CallbackInfo &info, size_t i, const char *call, const char *name);

#endif
