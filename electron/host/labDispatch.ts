/**
 * Carries one LabApi call that arrived over a transport (Electron IPC, WebSocket): checks the
 * method name and parameters against the contract and turns every failure into error data
 * ({code, message, field, fix}), so no transport ever sees an opaque rejection.
 */
import { LAB_METHODS, LabApi, LabError, LabErrorData, LabMethod } from '../contract';

export type LabCallResult = { ok: true; result: unknown } | { ok: false; error: LabErrorData };

export function toLabErrorData(err: unknown): LabErrorData {
  if (err instanceof LabError) return err.toData();
  const e = err as { code?: unknown; message?: unknown };
  return { code: typeof e?.code === 'string' ? e.code : 'INTERNAL', message: typeof e?.message === 'string' ? e.message : String(err) };
}

export async function dispatchLabCall(api: LabApi, method: unknown, params: unknown): Promise<LabCallResult> {
  try {
    if (typeof method !== 'string' || !Object.prototype.hasOwnProperty.call(LAB_METHODS, method)) {
      throw new LabError({ code: 'UNKNOWN_METHOD', field: 'method', message: `unknown LabApi method ${JSON.stringify(method)}`, fix: `use one of ${Object.keys(LAB_METHODS).join(', ')}` });
    }
    const schema = LAB_METHODS[method as LabMethod];
    const parsed = schema.safeParse(params);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = ['params', ...issue.path.map(String)].join('.');
      throw new LabError({ code: 'BAD_REQUEST', field, message: `${method}: ${field}: ${issue.message}`, fix: `check the ${method} parameters against electron/contract.ts` });
    }
    const args = parsed.data as never;
    switch (method as LabMethod) {
      case 'getStatus': return { ok: true, result: await api.getStatus() };
      case 'startRun': return { ok: true, result: await api.startRun(args ?? {}) };
      case 'stopRun': return { ok: true, result: await api.stopRun() };
      case 'setKnob': return { ok: true, result: await api.setKnob(args) };
      case 'doctor': return { ok: true, result: await api.doctor() };
    }
  } catch (err) {
    return { ok: false, error: toLabErrorData(err) };
  }
}
