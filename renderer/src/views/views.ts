/** The lab's views, in the order the toolbar offers them. */
export const LAB_VIEWS = [
  { id: 'live', label: 'Live' },
  { id: 'doctor', label: 'Doctor' },
] as const;
export type LabView = (typeof LAB_VIEWS)[number]['id'];
