/**
 * The one validation of LabApi call params, from the method table, for every caller — a
 * WebSocket message, the Electron window, the CLI in process — with errors phrased for a
 * person (the expectation in words, what was given, a call that works).
 */
import { z } from 'zod';
import { LAB_METHODS, LabError, LabMethod, quoteValue } from '../contract';
import { issueExpectation } from './profiles';

type Params<M extends LabMethod> = z.output<(typeof LAB_METHODS)[M]['params']>;

export function parseParams<M extends LabMethod>(method: M, params: unknown): Params<M> {
  const row = LAB_METHODS[method];
  const parsed = row.params.safeParse(params);
  if (parsed.success) return parsed.data as Params<M>;
  const issue = parsed.error.issues[0];
  const field = ['params', ...issue.path.map(String)].join('.');
  const takesNone = !('example' in row);
  const message = issue.code === 'unrecognized_keys'
    ? `${method}: unknown key ${issue.keys.slice(0, 3).map((k) => quoteValue(k, 40)).join(', ')} in ${field}`
    : `${method}: ${field} must be ${takesNone && issue.path.length === 0 ? 'absent or {}' : issueExpectation(issue)} (got ${quoteValue(given(params, issue.path))})`;
  return failWith(new LabError({
    code: 'BAD_REQUEST', field, message,
    fix: takesNone ? `${method} takes no params` : `${method} takes e.g. ${quoteValue((row as { example?: unknown }).example, 120)}`,
  }));
}

function given(params: unknown, path: readonly PropertyKey[]): unknown {
  let node = params;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

function failWith(error: LabError): never {
  throw error;
}
