/**
 * What this machine offers the lab (the doctor's report): asked for when the Doctor view opens,
 * and by the knob panel, which disables the knobs the report says this machine cannot use.
 */
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

  /** Checks once per connection when nothing was checked yet (the knob panel needs the knobs' availability). */
  async function ensure(): Promise<void> {
    if (!report.value) await check();
  }

  return { report, checking, failure, check, ensure };
});
