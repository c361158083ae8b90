/**
 * What Space does where it was pressed (RunKeys.vue): start or stop the run, nothing (Space on
 * Start/Stop while neither applies: still ours, so the button does not activate natively), or
 * leave it to the focused control (text fields, checkboxes, selects, other buttons). Pure.
 */
export const RUN_KEY_TARGETS = { start: 'start-button', stop: 'stop-button' } as const;

export type SpaceAction = 'start' | 'stop' | 'none' | 'ignore';

/** Elements that take Space themselves. */
const OWN_SPACE = /^(INPUT|TEXTAREA|SELECT|BUTTON|A|SUMMARY|OPTION)$/;

export function spaceAction(target: Pick<Element, 'tagName' | 'getAttribute'> | null, state: { startEnabled: boolean; stopEnabled: boolean }): SpaceAction {
  const testId = target?.getAttribute?.('data-testid') ?? null;
  const onRunButton = testId === RUN_KEY_TARGETS.start || testId === RUN_KEY_TARGETS.stop;
  if (target && !onRunButton) {
    if (OWN_SPACE.test(target.tagName)) return 'ignore';
    const role = target.getAttribute('role');
    if (target.getAttribute('contenteditable') === 'true' || (role && /^(button|checkbox|switch|radio|menuitem|tab|option|slider|spinbutton|textbox|combobox)$/.test(role))) return 'ignore';
    // Made focusable in the tab order (a table row that opens its details): a control of its
    // own, whatever its role. tabindex -1 (a region focused by code) is not.
    const tabindex = Number(target.getAttribute('tabindex'));
    if (target.getAttribute('tabindex') !== null && Number.isInteger(tabindex) && tabindex >= 0) return 'ignore';
  }
  if (state.startEnabled) return 'start';
  if (state.stopEnabled) return 'stop';
  return 'none';
}
