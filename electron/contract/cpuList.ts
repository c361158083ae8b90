/**
 * CPU lists as the kernel writes them ("0-3,8,10-11": sysfs cpulist, /proc's Cpus_allowed_list)
 * and as the lab shows them: one parser and one formatter for the doctor, the topology checks,
 * the engine's evidence and its thread pinning.
 */

/** "0-3,8,10-11" → [0,1,2,3,8,10,11], sorted, each once; empty or malformed parts are skipped. */
export function parseCpuList(text: string): number[] {
  const cpus = new Set<number>();
  for (const part of text.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) continue;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    for (let c = from; c <= to && c - from < 65_536; c++) cpus.add(c);
  }
  return [...cpus].sort((a, b) => a - b);
}

/** [0,1,2,3,8] → "0-3,8" (any order, repeats allowed): how a CPU list is written for people. */
export function formatCpuList(cpus: readonly number[]): string {
  return formatCpuSequence([...new Set(cpus)].sort((a, b) => a - b));
}

/** Longest CPU list text a person may type (--set, the knob panel): 4,096 CPUs need less. */
export const MAX_CPU_LIST_TEXT = 4096;
/** Most CPUs one typed list may expand to ("0-9999999" is a typo, not a list). */
export const MAX_CPU_LIST_CPUS = 4096;

export type CpuListText = { ok: true; cpus: number[] } | { ok: false; reason: string };

/**
 * A CPU list as a person types it for a pinning knob: "0-3,8" as taskset -c and cpusets take it,
 * or "1,0". Unlike parseCpuList (which reads the kernel's own, well-formed lists), every part
 * must be a CPU or an ascending range, and the order is kept as typed: worker i goes to
 * cpus[i mod n], so "1,0" puts worker 0 on CPU 1.
 */
export function parseCpuListText(text: string): CpuListText {
  const t = String(text).trim();
  if (t === '') return { ok: false, reason: 'it is empty' };
  if (t.length > MAX_CPU_LIST_TEXT) return { ok: false, reason: `it has ${t.length} characters (at most ${MAX_CPU_LIST_TEXT})` };
  const cpus: number[] = [];
  for (const raw of t.split(',')) {
    const part = raw.trim();
    const m = /^(\d{1,7})(?:\s*-\s*(\d{1,7}))?$/.exec(part);
    if (!m) return { ok: false, reason: part === '' ? 'a part between commas is empty' : `"${part.slice(0, 20)}" is not a CPU number or a range such as 0-3` };
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) return { ok: false, reason: `the range ${from}-${to} runs backwards (write ${to}-${from})` };
    if (cpus.length + (to - from + 1) > MAX_CPU_LIST_CPUS) return { ok: false, reason: `it names more than ${MAX_CPU_LIST_CPUS} CPUs` };
    for (let c = from; c <= to; c++) cpus.push(c);
  }
  return { ok: true, cpus };
}

/**
 * A CPU list knob's value as parsed from typed text (JSON where it parses: `--set`, the A/B
 * form's change): one CPU (a whole number) is a list of one, text is read as a typed CPU list;
 * null for anything else (a JSON array, null), which goes to the knob's schema as it is.
 */
export function typedCpuList(value: unknown): CpuListText | null {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return { ok: true, cpus: [value] };
  return typeof value === 'string' ? parseCpuListText(value) : null;
}

/** [0,1,2,3,8] → "0-3,8", [1,0] → "1,0": a pinning list written as the kernel writes CPU lists
 *  (ascending runs become ranges) but in its own order, so parseCpuListText reads it back as it was. */
export function formatCpuSequence(cpus: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < cpus.length;) {
    let j = i;
    while (j + 1 < cpus.length && cpus[j + 1] === cpus[j]! + 1) j++;
    parts.push(i === j ? `${cpus[i]}` : `${cpus[i]}-${cpus[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** The text of Cpus_allowed_list in a /proc/PID/status (the scheduler affinity), or null. */
export function allowedCpuListIn(status: string): string | null {
  return /^Cpus_allowed_list:\s*(\S*)/m.exec(status)?.[1] ?? null;
}
