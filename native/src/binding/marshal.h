// The C core's results as the JS objects index.d.ts describes: start results (applied,
// refused, ring), snapshots, memory needs. Ring flags and features become their names here.
#ifndef URING_LAB_BINDING_MARSHAL_H
#define URING_LAB_BINDING_MARSHAL_H

#include <napi.h>

#include <string>

#include "core/engine.h"

// IORING_SETUP_* names without the prefix: ["SQPOLL", "CQSIZE", ...].
// Counts per bucket as the sparse [[index, count], …] the contract's histograms use (either layout).
Napi::Array SparseHistogram(Napi::Env env, const uint64_t *counts, uint32_t nbuckets);

Napi::Array FlagNames(Napi::Env env, unsigned flags);
// The IORING_SETUP_* bit of a name from FlagNames, RING_SETTING_REGISTERED_FD for
// 'REGISTERED_RING_FD', or 0.
unsigned FlagBit(const std::string &name);
// IORING_FEAT_* names without the prefix; unknown bits read "BIT<n>".
Napi::Array FeatureNames(Napi::Env env, unsigned features);

// StartResult.applied.server: what the kernel really accepted, in the config's paths.
Napi::Object AppliedServer(Napi::Env env, const server_config &requested, const ring_setup_result &r);
// StartResult.refused: RefusedSetting[].
Napi::Array RefusedSettings(Napi::Env env, const ring_setup_result &r, const server_config &requested);
// StartResult.ring.
Napi::Object RingObject(Napi::Env env, const ring_setup_result &r);

Napi::Object StartResultObject(Napi::Env env, const engine_started &out, const engine_config &cfg);
Napi::Object SnapshotObject(Napi::Env env, const struct engine_snapshot &s);
Napi::Object MemoryNeedsObject(Napi::Env env, const engine_memory &m);

#endif
