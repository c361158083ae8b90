// The errors start() throws and startAsync() rejects with (EngineStartError in index.d.ts):
// one line naming the step's concept and its numbers, '(CODE): strerror', and '; fix' when
// there is one. No profile path: the host maps `step` to a knob through its catalogue.
#ifndef URING_LAB_BINDING_START_ERRORS_H
#define URING_LAB_BINDING_START_ERRORS_H

#include <napi.h>

#include "core/engine.h"

Napi::Error StartError(Napi::Env env, const engine_error &err, const engine_config &cfg);
// start/stop refused because another start or stop owns the engine (step ENGINE_BUSY).
Napi::Error BusyError(Napi::Env env, bool stopping_call);

#endif
