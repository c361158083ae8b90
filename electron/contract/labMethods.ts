/**
 * The names of the LabApi methods, alone and free of dependencies, so the Electron preload
 * (a sandboxed script bundled on its own) can derive its bridge from them without zod. The
 * method table in labApi.ts is typed against this list, so the two cannot drift.
 */
export const LAB_METHOD_NAMES = ['getStatus', 'startRun', 'stopRun', 'setKnob', 'takeControl', 'getFrames', 'doctor',
  'listRuns', 'getRun', 'deleteRun', 'pinRun', 'exportRun', 'diagnoseRun',
  'listPresets', 'listProfiles', 'saveProfile', 'deleteProfile', 'importProfile', 'exportProfile', 'applyProfile',
  'startAb', 'stopAb', 'getAbState', 'listAb', 'getAb', 'exportAb', 'deleteAb'] as const;
export type LabMethod = (typeof LAB_METHOD_NAMES)[number];

/** IPC channels between the Electron main process and the preload. */
export const IPC_CALL = 'uring-lab:call';
export const IPC_EVENT = 'uring-lab:event';

