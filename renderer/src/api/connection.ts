/** Connection state of a LabApi transport, surfaced in the toolbar and the connection banner. */
export type ConnectionState =
  /** Electron preload (IPC): always connected. */
  | { kind: 'ipc' }
  | { kind: 'connecting'; attempt: number }
  | { kind: 'open' }
  | { kind: 'closed'; attempt: number; retryInMs: number; reason: string }
  /** The host will not talk to this page (bad or missing token): retrying cannot help. */
  | { kind: 'refused'; reason: 'bad-token' | 'no-token'; message: string; fix: string };

export interface LabConnection {
  current(): ConnectionState;
  onChange(listener: (state: ConnectionState) => void): () => void;
  /** Tries again now (after a refusal, or to skip the backoff); absent where it cannot help. */
  retry?(): void;
}

export function constantConnection(state: ConnectionState): LabConnection {
  return { current: () => state, onChange: () => () => {} };
}
