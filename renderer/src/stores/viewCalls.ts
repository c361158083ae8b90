/**
 * How the view stores (History, Profiles, A/B) call the host: through the connected LabApi (a
 * DISCONNECTED error in words when there is none), with a failure kept for the view to show
 * beside what failed instead of thrown, and an optional busy flag while a call is out.
 */
import type { Ref, ShallowRef } from 'vue';
import { LabError, type LabApi, type LabErrorData } from '../../../electron/contract';
import { toErrorData } from './errors';

export function viewCalls(current: () => LabApi | null, failure: ShallowRef<LabErrorData | null>, busy?: Ref<boolean>) {
  function api(): LabApi {
    const x = current();
    if (!x) throw new LabError({ code: 'DISCONNECTED', message: 'not connected to the lab host', fix: 'wait for the connection to come back' });
    return x;
  }

  /** Runs `task`; its error becomes `failure` (cleared on success), its result or undefined. */
  async function guarded<T>(task: () => Promise<T>): Promise<T | undefined> {
    if (busy) busy.value = true;
    try {
      const out = await task();
      failure.value = null;
      return out;
    } catch (err) {
      failure.value = toErrorData(err);
      return undefined;
    } finally {
      if (busy) busy.value = false;
    }
  }

  return { api, guarded };
}
