/** What this machine offers the lab (the doctor's report), asked for when the Doctor view opens. */
import { defineStore } from 'pinia';
import { ref, shallowRef } from 'vue';
import type { DoctorReport, LabErrorData } from '../../../electron/contract';
import { useConnectionStore } from './connection';
import { toErrorData } from './errors';

export const useDoctorStore = defineStore('doctor', () => {
  const conn = useConnectionStore();
  const report = shallowRef<DoctorReport | null>(null);
  const checking = ref(false);
  /** Why the last check failed (shown in the view, not the page's error banner). */
  const failure = shallowRef<LabErrorData | null>(null);

  async function check(): Promise<void> {
    const api = conn.api();
    if (!api || checking.value) return;
    checking.value = true;
    try {
      report.value = await api.doctor();
      failure.value = null;
    } catch (err) {
      failure.value = toErrorData(err);
    } finally {
      checking.value = false;
    }
  }

  return { report, checking, failure, check };
});
