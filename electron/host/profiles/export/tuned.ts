/**
 * `--format tuned`: a TuneD profile (tuned.conf) with the system settings the profile implies —
 * the sysctls (io_uring enabled, NAPI busy polling, huge pages for the buffer pool, NUMA
 * balancing) and the kernel command line for a pinned SQPOLL thread — each line commented with
 * the knob it comes from. The settings are the rows' `exports.system` (knobs.ts); the knobs
 * themselves are uring-lab's to set (`uring-lab run --profile`), not TuneD's.
 */
import type { Profile } from '../../../contract';
import { commentText, impliedSettings, slug, valueText, knobValue } from './common';

export function tunedConf(profile: Profile): string {
  const name = `uring-lab-${slug(profile.name)}`;
  const settings = impliedSettings(profile);
  const section = (which: 'sysctl' | 'cpu' | 'bootloader') => settings.filter((s) => s.section === which).flatMap((s) => [
    `# ${commentText(s.from.map((p) => `${p} = ${valueText(knobValue(profile, p))}`).join(', '))}: ${commentText(s.why)}`,
    `${s.key}=${s.value}`,
  ]);
  const sysctl = section('sysctl');
  const cpu = section('cpu');
  const bootloader = section('bootloader');
  // One line: the name and the description's first sentence.
  const firstSentence = profile.description.split('\n')[0].split(/(?<=\.)\s/)[0];
  const summary = commentText(`uring-lab profile ${profile.name}${firstSentence ? `: ${firstSentence.length > 120 ? `${firstSentence.slice(0, 119)}…` : firstSentence}` : ''}`, 200);
  const lines = [
    `# uring-lab profile "${commentText(profile.name, 120)}" as a TuneD profile: the system settings its knobs imply.`,
    '# Made by `uring-lab export --format tuned`. Install and apply:',
    `#   mkdir -p /etc/tuned/${name} && cp THIS_FILE /etc/tuned/${name}/tuned.conf && tuned-adm profile ${name}`,
    '# The knobs themselves are not TuneD\'s: run the profile with `uring-lab run --profile PROFILE.json`.',
    '',
    '[main]',
    `summary=${summary}`,
    '',
    '[sysctl]',
    ...sysctl,
  ];
  if (cpu.length) lines.push('', '[cpu]', ...cpu);
  if (bootloader.length) {
    lines.push('', '# Kernel command line: takes effect after a reboot (tuned-adm profile, then reboot).', '[bootloader]', ...bootloader);
  }
  return `${lines.join('\n')}\n`;
}
