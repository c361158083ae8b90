/**
 * Carries one LabApi call that arrived over a transport (Electron IPC, WebSocket): checks the
 * method name and parameters against the contract and turns every failure into error data
 * ({code, message, field, fix}, bounded and escaped by LabError), so no transport ever sees an
 * opaque rejection and no caller's input can make a call throw past this point.
 */
import { LAB_METHODS, LabApi, LabCallResult, LabError, LabMethod, WsRequestSchema, WsResponse } from '../contract';
import { assertJsonBounds } from './jsonLimits';

export type { LabCallResult };

export async function dispatchLabCall(api: LabApi, method: unknown, params: unknown): Promise<LabCallResult> {
  try {
    if (typeof method !== 'string' || !Object.prototype.hasOwnProperty.call(LAB_METHODS, method)) {
      throw new LabError({ code: 'UNKNOWN_METHOD', field: 'method', message: `unknown LabApi method ${JSON.stringify(String(method))}`, fix: `use one of ${Object.keys(LAB_METHODS).join(', ')}` });
    }
    assertJsonBounds(params, 'params', 'BAD_REQUEST');
    // The api validates the params against the method table itself (labParams.ts), once,
    // whoever calls it; here only the method name and the size of what arrived are checked.
    const call = api[method as LabMethod] as (params?: unknown) => Promise<unknown>;
    return { ok: true, result: await call.call(api, params) };
  } catch (err) {
    return { ok: false, error: LabError.from(err).toData() };
  }
}

/**
 * One WebSocket text message in, its answer out (JSON text, never a throw): parsed, bounded
 * before anything walks it recursively, checked against the envelope, then dispatched.
 * `text` null is a binary message, which the LabApi does not speak. Answers to messages
 * without a usable integer id carry id -1.
 */
export async function answerLabMessage(api: LabApi, text: string | null): Promise<string> {
  let id = -1;
  let answer: WsResponse;
  try {
    if (text === null) {
      throw new LabError({ code: 'BAD_REQUEST', message: 'binary messages are not part of the LabApi', fix: 'send {id, method, params} as a JSON text message' });
    }
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      throw new LabError({ code: 'BAD_REQUEST', message: 'message is not JSON', fix: 'send {id, method, params} as JSON' });
    }
    // The id first (a plain property read), so even a message refused as too deep is answered by id.
    const claimed = (message as { id?: unknown } | null)?.id;
    if (typeof claimed === 'number' && Number.isSafeInteger(claimed)) id = claimed;
    assertJsonBounds(message, 'message', 'BAD_REQUEST');
    const request = WsRequestSchema.safeParse(message);
    if (!request.success) {
      const issue = request.error.issues[0];
      const field = issue.path.map(String).join('.') || 'message';
      throw new LabError({ code: 'BAD_REQUEST', field, message: `${field}: ${issue.message}`, fix: 'send {id: integer, method: one of the LabApi methods, params}' });
    }
    answer = { id, ...(await dispatchLabCall(api, request.data.method, request.data.params)) };
  } catch (err) {
    answer = { id, ok: false, error: LabError.from(err).toData() };
  }
  try {
    return JSON.stringify(answer);
  } catch (err) {
    // A result that cannot be serialised (a bug, not the caller's): say so rather than go silent.
    return JSON.stringify({ id, ok: false, error: LabError.from(err).toData() } satisfies WsResponse);
  }
}
