/**
 * Room reserved for one line saying how a run or an experiment ended, for when its final record
 * cannot be written. A full disk is the case: the final record is written atomically (a new
 * file, renamed over the old), which needs new blocks; overwriting the reserved bytes in place
 * does not. Spaces until then, overwritten (same length) only when that final write failed, and
 * removed once the final record is on disk. Without it a run or experiment that filled the disk
 * read ever after as if its lab process had died (a crash, kill -9 or power loss).
 */
import { closeSync, fstatSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { z } from 'zod';
import { StoredRunStatusSchema } from '../../contract/history';
import { readRegularFileSync } from './regularFile';

// Synchronous: 1 KiB each, and the A/B store's saves are synchronous (an experiment's last save
// happens just before its CLI exits, so a write left to the event loop could be lost).

export const END_NOTE_BYTES = 1024;

export const EndNoteSchema = z.object({ status: StoredRunStatusSchema, endedAt: z.string(), why: z.string() });
export type EndNote = z.infer<typeof EndNoteSchema>;

/** Reserves the note's bytes (spaces), once. Fails quietly: with no room even for this, a failed
 *  final write reads as before. */
export function reserveEndNote(path: string): void {
  try { writeFileSync(path, `${' '.repeat(END_NOTE_BYTES - 1)}\n`, { flag: 'wx' }); } catch { /* there already, or no room */ }
}

/** Overwrites the reserved note in place; nothing when it is missing or shorter than reserved. */
export function writeEndNote(path: string, note: EndNote): void {
  const text = JSON.stringify({ ...note, why: note.why.slice(0, 300) });
  if (text.length > END_NOTE_BYTES - 1) return;
  let fd: number | null = null;
  try {
    fd = openSync(path, 'r+');
    if (fstatSync(fd).size < END_NOTE_BYTES) return;
    writeSync(fd, text.padEnd(END_NOTE_BYTES - 1, ' '), 0, 'utf8');
  } catch { /* nothing reserved, or not even this: it reads as before */ } finally {
    if (fd !== null) try { closeSync(fd); } catch { /* closed */ }
  }
}

/** The final record is on disk: the reservation has served. */
export function dropEndNote(path: string): void {
  try { rmSync(path, { force: true }); } catch { /* left: harmless spaces */ }
}

/** The note left when the final record could not be written, or null (spaces, missing, damaged). */
export function readEndNote(path: string): EndNote | null {
  try {
    const parsed = EndNoteSchema.safeParse(JSON.parse(readRegularFileSync(path, END_NOTE_BYTES * 4)));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
