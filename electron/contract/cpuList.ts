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
  const sorted = [...new Set(cpus)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** The text of Cpus_allowed_list in a /proc/PID/status (the scheduler affinity), or null. */
export function allowedCpuListIn(status: string): string | null {
  return /^Cpus_allowed_list:\s*(\S*)/m.exec(status)?.[1] ?? null;
}
