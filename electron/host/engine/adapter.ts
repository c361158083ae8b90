/**
 * Translation between a validated Profile and the native engine's configuration, and back
 * from what the kernel accepted to the profile as applied.
 */
import type { Profile } from '../contract';
import type { NativeApplied, NativeEngineConfig } from '../engine/protocol';

export function nativeConfigFor(profile: Profile, maxDurationMs: number): NativeEngineConfig {
  const { server, load } = profile;
  return {
    port: 0,
    ringEntries: server.ringEntries,
    sqpoll: { enabled: server.sqpoll.enabled, idleMs: server.sqpoll.idleMs, cpu: server.sqpoll.cpu },
    taskrun: server.taskrun,
    bufferRing: { size: server.bufferRing.size, count: server.bufferRing.count },
    load: { connections: load.connections, messageBytes: load.messageBytes, threads: load.threads },
    maxDurationMs: Math.round(maxDurationMs),
  };
}

/** The requested profile with every knob replaced by the value the kernel really accepted. */
export function appliedProfile(requested: Profile, applied: NativeApplied): Profile {
  const profile = structuredClone(requested);
  profile.server.sqpoll.enabled = applied.sqpollEnabled;
  profile.server.sqpoll.cpu = applied.sqpollCpu;
  profile.server.sqpoll.idleMs = applied.sqpollIdleMs;
  profile.server.taskrun = applied.taskrun;
  profile.server.ringEntries = applied.ringEntries;
  profile.server.bufferRing.size = applied.bufferRingSize;
  profile.server.bufferRing.count = applied.bufferRingCount;
  return profile;
}
