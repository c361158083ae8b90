/**
 * How a knob is written on the command line, `--set key.path=value`: a value as typed becomes
 * JSON, and a knob's default is written back in that syntax (or as a value, for the UI and for
 * files) so a fix shows something that works as it stands.
 */
import { isCpuListKnob, quoteValue } from '../../contract';
import { displayPath, userText, type Path, type Style } from './messageText';
import { defaultAt } from './profileShape';

/** Turns a `--set` value into JSON: `true`, `12`, `null`, `"x"` parse as JSON; anything else is a string. */
export function parseSetValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** `--set server.ringEntries=4096`: the knob at `path` set to its default; undefined without one. */
export function defaultAssignment(path: Path): string | undefined {
  const def = defaultAt(path);
  if (!def.found) return undefined;
  const v = def.value;
  // A string that reads back as itself needs no quotes; anything else is written as JSON.
  const literal = typeof v === 'string' && parseSetValue(v) === v ? v : JSON.stringify(v);
  return `--set ${displayPath(path)}=${userText(literal, 60)}`;
}

/** `e.g. --set server.ringEntries=4096 (the default)` or `e.g. 4096 (the default), or leave it out`. */
export function knobExample(path: Path, style: Style): string {
  const def = defaultAt(path);
  if (!def.found) return `give ${displayPath(path)} a valid value`;
  // A CPU list's default (null: not pinned) shows nothing of how a list is written.
  if (isCpuListKnob(displayPath(path))) {
    if (style === 'set') return `e.g. --set ${displayPath(path)}=0-1 (CPUs 0 and 1; \`uring-lab doctor\` lists this machine's), or ${defaultAssignment(path)} (the default: not pinned)`;
    if (style === 'value') return 'e.g. [0,1] (CPUs 0 and 1), or null (the default: not pinned)';
    return `use e.g. [0,1] (CPUs 0 and 1), or null (the default: not pinned), or leave ${userText(String(path[path.length - 1]), 40)} out`;
  }
  if (style === 'set') return `e.g. ${defaultAssignment(path)} (the default)`;
  if (style === 'value') return `e.g. ${quoteValue(def.value)} (the default)`;
  return `use e.g. ${quoteValue(def.value)} (the default), or leave ${userText(String(path[path.length - 1]), 40)} out`;
}
