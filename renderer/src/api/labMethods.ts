/**
 * A LabApi from one generic `call(method, params)`: one method per name in the contract's
 * LAB_METHOD_NAMES, so a method added to the method table (electron/contract/labApi.ts) needs
 * no edit in any renderer transport.
 */
import { LAB_METHOD_NAMES, type LabApi, type LabMethod } from '../../../electron/contract';

/** The LabApi without its event subscription: the request/answer methods. */
export type LabMethods = Omit<LabApi, 'onEvent'>;

export type LabCall = (method: LabMethod, params?: unknown) => Promise<unknown>;

export function labMethodsOver(call: LabCall): LabMethods {
  return Object.fromEntries(LAB_METHOD_NAMES.map((method) => [method, (params?: unknown) => call(method, params)])) as LabMethods;
}
