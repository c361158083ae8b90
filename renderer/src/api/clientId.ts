/**
 * This tab's client id: the host knows by it which client controls a run. Kept in
 * sessionStorage, so a reload or a reconnect after the host restarted is the same client (and
 * keeps control of its run), while another tab is another client.
 */

const CLIENT_ID_KEY = 'uring-lab.clientId';

export function tabClientId(storage: Pick<Storage, 'getItem' | 'setItem'> | null): string {
  try {
    const kept = storage?.getItem(CLIENT_ID_KEY);
    if (kept && /^[0-9a-f]{32}$/.test(kept)) return kept;
  } catch {
    // Storage disabled: an id for this page load only.
  }
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  const id = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  try {
    storage?.setItem(CLIENT_ID_KEY, id);
  } catch {
    // as above
  }
  return id;
}

/** The window's sessionStorage, or null where the browser refuses it. */
export function sessionStorageOf(win: Window): Storage | null {
  try {
    return win.sessionStorage;
  } catch {
    return null;
  }
}
