/** The lab's views, in the order the toolbar offers them. */
export const LAB_VIEWS = [
  { id: 'live', label: 'Live' },
  { id: 'history', label: 'History' },
  { id: 'diagnose', label: 'Diagnose' },
  { id: 'profiles', label: 'Profiles' },
  { id: 'ab', label: 'A/B' },
  { id: 'doctor', label: 'Doctor' },
] as const;
export type LabView = (typeof LAB_VIEWS)[number]['id'];
