/**
 * The last error the page shows (the error banner): a failed call or a failed run, as the
 * contract's error data {code, kind, message, field?, fix?}.
 */
import { defineStore } from 'pinia';
import { shallowRef } from 'vue';
import { LabError, type LabErrorData } from '../../../electron/contract';

const NOT_CONTROLLER_FIX = 'press "Take control" to control the run from this window, or use the window that started it';

/** Any thrown value as the contract's error data (LabError, IPC error object, plain Error). */
export function toErrorData(err: unknown): LabErrorData {
  const data = LabError.from(err).toData();
  if (data.code === 'NOT_CONTROLLER' && !data.fix) data.fix = NOT_CONTROLLER_FIX;
  return data;
}

export const useErrorStore = defineStore('errors', () => {
  const last = shallowRef<LabErrorData | null>(null);

  /** Shows `err` in the banner; returns it as data. */
  function report(err: unknown): LabErrorData {
    return (last.value = toErrorData(err));
  }

  function dismiss(): void {
    last.value = null;
  }

  return { last, report, dismiss };
});
