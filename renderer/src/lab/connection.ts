/** Connection state of a LabApi transport, surfaced in the toolbar. */
export type ConnectionState =
  /** Electron preload (IPC): always connected. */
  | { kind: 'ipc' }
  | { kind: 'connecting'; attempt: number }
  | { kind: 'open' }
  | { kind: 'closed'; attempt: number; retryInMs: number; reason: string };

export interface LabConnection {
  current(): ConnectionState;
  onChange(listener: (state: ConnectionState) => void): () => void;
}

export function constantConnection(state: ConnectionState): LabConnection {
  return { current: () => state, onChange: () => () => {} };
}
