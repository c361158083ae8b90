/**
 * The transport the UI talks through (Electron preload or WebSocket) and its connection
 * state. The client itself is kept out of reactivity: components read the state, stores call
 * `api()`.
 */
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { LabApi, LabEvent } from '../../../electron/contract';
import type { ConnectionState } from '../api/connection';
import type { LabClient } from '../api/labClient';

export const useConnectionStore = defineStore('connection', () => {
  let client: LabClient | null = null;
  let detach: (() => void)[] = [];
  const transport = ref<'ipc' | 'ws' | null>(null);
  const state = ref<ConnectionState>({ kind: 'connecting', attempt: 1 });
  const everConnected = ref(false);

  const connected = computed(() => state.value.kind === 'ipc' || state.value.kind === 'open');
  const refused = computed(() => (state.value.kind === 'refused' ? state.value : null));
  /** We were connected and are not now: whatever the page shows may be out of date. */
  const lost = computed(() => everConnected.value && !connected.value);
  /** The host closed the connection saying it was shutting down (it ends its run first, so the
   *  Last run card holds that run's end), until the next connection. */
  const hostShutDown = ref(false);

  function setState(next: ConnectionState): void {
    state.value = next;
    if (connected.value) everConnected.value = true;
    if (connected.value) hostShutDown.value = false;
    else if (next.kind === 'closed' && /shutting down/.test(next.reason)) hostShutDown.value = true;
  }

  /** Talks through `c` from now on; its events go to `onEvent`. */
  function attach(c: LabClient, onEvent: (event: LabEvent) => void): void {
    for (const d of detach) d();
    client = c;
    transport.value = c.transport;
    detach = [c.api.onEvent(onEvent), c.connection.onChange(setState)];
    setState(c.connection.current());
  }

  function api(): LabApi | null {
    return client?.api ?? null;
  }

  /** This page's client id with the host (WebSocket only). */
  function clientId(): string | null {
    return client?.clientId ?? null;
  }

  function retry(): void {
    client?.connection.retry?.();
  }

  return { transport, state, everConnected, connected, refused, lost, hostShutDown, attach, api, clientId, retry };
});
