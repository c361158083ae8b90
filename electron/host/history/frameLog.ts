/**
 * frames.jsonl: one RunFrame per line, appended while the run goes.
 *
 * Frames are handed to the kernel as they come, off the event loop (libuv's thread pool does
 * the writes, frames that arrive meanwhile go out together in the next one), so a disk busy with
 * other work never stalls the host that carries frames and engine heartbeats. What the kernel
 * has survives a kill -9 of the host; the file is fdatasynced at most a second after the first
 * unsynced write, so a power cut loses at most about a second. The syncs run beside the writes,
 * not between them: an fdatasync that takes long on a busy disk holds back neither the frames
 * after it nor a client reading them back (a late joiner needs them handed over, not synced).
 *
 * Reading back is tolerant: a line that is not a valid frame (the torn last line of a crash) is
 * skipped and counted, never fatal. Frames are stored as the RunFrame JSON the host emitted and
 * validated with the current RunFrameSchema on the way out, so fields added to RunFrame later
 * flow through without a change here.
 */
import { closeSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { z } from 'zod';
import { RunFrameSchema, type RunFrame, type SparseHistogram } from '../../contract';
import { openRegularSync } from './regularFile';

/** The longest a written frame stays unsynced. */
export const FRAME_SYNC_INTERVAL_MS = 1000;
/** frames.idx holds the byte offset of every this-many-th line of frames.jsonl (8 bytes, LE). */
export const FRAMES_PER_INDEX_ENTRY = 256;

export const indexPathOf = (framesPath: string) => framesPath.replace(/\.jsonl$/, '.idx');

/** Writes all of `data` (a short write is continued; one that writes nothing is an error). */
async function writeAll(file: FileHandle, data: Buffer): Promise<void> {
  for (let offset = 0; offset < data.length;) {
    const { bytesWritten } = await file.write(data, offset, data.length - offset);
    if (bytesWritten <= 0) throw new Error(`only ${offset} of ${data.length} bytes written`);
    offset += bytesWritten;
  }
}

export class FrameLog {
  private file: FileHandle | null = null;
  private indexFile: FileHandle | null = null;
  /** Every write and the close, in order (syncs go beside it: `syncing`). Never rejects: failures go to `problem`. */
  private chain: Promise<void>;
  /** The files opened (or failed to: `problem`). */
  private readonly opened: Promise<void>;
  /** The fdatasyncs, one after another, beside `chain` (the close waits for both). */
  private syncing: Promise<void> = Promise.resolve();
  /** Lines (and index entries) appended but not yet handed to a write. */
  private pendingLines: Buffer[] = [];
  private pendingIndex: Buffer[] = [];
  private drainQueued = false;
  /** Bytes appended to frames.jsonl so far: where the next line starts. */
  private bytes = 0;
  private syncTimer: NodeJS.Timeout | null = null;
  private closing = false;
  /** The first thing that failed (a full disk): later frames are dropped, the run goes on. */
  problem: string | null = null;
  frames = 0;

  /** `ready`: the run's folder exists (the files are opened after it). */
  constructor(readonly path: string, ready: Promise<void>) {
    this.chain = this.opened = ready.then(async () => {
      this.file = await open(path, 'a', 0o644);
      this.indexFile = await open(indexPathOf(path), 'a', 0o644);
    }).catch((err) => { this.problem ??= `opening ${path} failed: ${(err as Error).message}`; });
  }

  /** `json`: the frame's JSON text when the caller has it already (one stringify per frame). */
  append(frame: RunFrame, json = JSON.stringify(frame)): void {
    if (this.problem || this.closing) return;
    if (this.frames % FRAMES_PER_INDEX_ENTRY === 0) {
      const entry = Buffer.alloc(8);
      entry.writeBigUInt64LE(BigInt(this.bytes));
      this.pendingIndex.push(entry);
    }
    const line = Buffer.from(`${json}\n`);
    this.pendingLines.push(line);
    this.bytes += line.length;
    this.frames++;
    if (!this.drainQueued) {
      this.drainQueued = true;
      this.then(() => this.drain());
    }
    this.syncTimer ??= setTimeout(() => { this.syncTimer = null; this.sync(); }, FRAME_SYNC_INTERVAL_MS);
    // The timer must not keep a CLI alive after its run, nor a test process.
    this.syncTimer.unref();
  }

  private then(step: () => Promise<unknown> | undefined): void {
    this.chain = this.chain.then(async () => {
      if (this.problem) return;
      try { await step(); } catch (err) { this.problem ??= `writing frames to ${this.path} failed: ${(err as Error).message}`; }
    });
  }

  /** An fdatasync after the ones before it; it syncs what the kernel has by then. */
  private sync(): void {
    this.syncing = this.syncing.then(() => this.opened).then(async () => {
      if (this.problem || !this.file) return;
      try { await this.file.datasync(); } catch (err) { this.problem ??= `syncing ${this.path} failed: ${(err as Error).message}`; }
    });
  }

  /** Everything appended so far, in one write (and the index entries in another). */
  private async drain(): Promise<void> {
    this.drainQueued = false;
    const lines = this.pendingLines;
    const entries = this.pendingIndex;
    this.pendingLines = [];
    this.pendingIndex = [];
    if (!this.file || !this.indexFile) throw new Error('the file is not open');
    // The index entries point at lines of this batch or earlier: written after them, a crash
    // between the two leaves an index that falls short, never one that points past the file.
    if (lines.length) await writeAll(this.file, lines.length === 1 ? lines[0] : Buffer.concat(lines));
    if (entries.length) await writeAll(this.indexFile, Buffer.concat(entries));
  }

  /** Resolves when every frame appended so far has been handed to the kernel (synced or not). */
  get written(): Promise<void> {
    return this.chain;
  }

  /** Writes what is left, syncs and closes the files (the run ended). Idempotent. */
  async close(): Promise<void> {
    if (this.closing) return this.chain;
    this.closing = true;
    if (this.syncTimer) clearTimeout(this.syncTimer);
    this.syncTimer = null;
    this.chain = this.chain.then(async () => {
      this.sync(); // after the last write
      await this.syncing;
      await this.file?.close().catch(() => undefined);
      await this.indexFile?.close().catch(() => undefined);
      this.file = null;
      this.indexFile = null;
    });
    return this.chain;
  }
}

export interface FramesPage {
  frames: RunFrame[];
  /** Seq to ask next for the rest, or null when the file holds no later frame. */
  nextSeq: number | null;
  /** Lines read that were not a valid frame (a torn last line, a damaged line), skipped. */
  skippedLines: number;
}

/**
 * The seq of a frame line without parsing it all: JSON.stringify of a RunFrame puts runId and
 * seq first, so it is near the start. Null when it is not there (the line is then parsed).
 */
function seqOf(line: string): number | null {
  const at = line.indexOf('"seq":');
  if (at < 0 || at > 200) return null;
  const seq = parseInt(line.slice(at + 6, at + 26), 10);
  return Number.isSafeInteger(seq) && seq >= 0 ? seq : null;
}
const READ_CHUNK_BYTES = 1 << 20;

/** The byte offset of line `FRAMES_PER_INDEX_ENTRY * k` for each k the index holds, checked. */
function indexOffsets(indexPath: string, fileBytes: number): number[] {
  let raw: Buffer;
  try {
    // Not a regular file (a FIFO would block the read for good), or unreadable: no index.
    const { fd, size } = openRegularSync(indexPath);
    try {
      raw = Buffer.alloc(Math.min(size, 8 * Math.ceil(fileBytes / 2 + 1)));
      let got = 0;
      while (got < raw.length) {
        const n = readSync(fd, raw, got, raw.length - got, got);
        if (n <= 0) break;
        got += n;
      }
      raw = raw.subarray(0, got);
    } finally {
      closeSync(fd);
    }
  } catch { return []; }
  const offsets: number[] = [];
  // A torn last entry (a crash mid-write) is ignored; so is anything past a bad entry.
  for (let i = 0; i + 8 <= raw.length; i += 8) {
    const offset = Number(raw.readBigUInt64LE(i));
    if (offset > fileBytes || (offsets.length > 0 && offset <= offsets[offsets.length - 1]) || (offsets.length === 0 && offset !== 0)) break;
    offsets.push(offset);
  }
  return offsets;
}

/**
 * Frames with seq ≥ fromSeq, at most `limit`. The sparse offset index (frames.idx) takes the
 * read straight to the right part of the file, so a page late in an hour-long run costs what a
 * page at its start costs; lines before fromSeq are only checked for their seq. A missing file
 * reads as no frames (a run that crashed before its first one).
 */
export function readFrames(path: string, fromSeq = 0, limit = Number.POSITIVE_INFINITY, maxBytes = Number.POSITIVE_INFINITY): FramesPage {
  let fd: number;
  let fileBytes: number;
  // A FIFO or device named frames.jsonl throws NotARegularFile (it blocked the read for good).
  try { ({ fd, size: fileBytes } = openRegularSync(path)); } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { frames: [], nextSeq: null, skippedLines: 0 };
    throw err;
  }
  try {
    const offsets = indexOffsets(indexPathOf(path), fileBytes);
    const entry = Math.min(Math.floor(fromSeq / FRAMES_PER_INDEX_ENTRY), offsets.length - 1);
    const page = entry > 0 ? readFramesFrom(fd, fileBytes, offsets[entry], fromSeq, limit, maxBytes) : null;
    // The line there must be the frame the index promised (frames are written in seq order);
    // anything else (a hand-edited file) and the file is read from its start.
    if (page && page.firstSeq !== null && page.firstSeq <= fromSeq && page.firstSeq === entry * FRAMES_PER_INDEX_ENTRY) return page.result;
    return readFramesFrom(fd, fileBytes, 0, fromSeq, limit, maxBytes).result;
  } finally {
    closeSync(fd);
  }
}

function readFramesFrom(fd: number, fileBytes: number, offset: number, fromSeq: number, limit: number, maxBytes: number): { result: FramesPage; firstSeq: number | null } {
  const frames: RunFrame[] = [];
  let pageBytes = 0;
  let skippedLines = 0;
  let nextSeq: number | null = null;
  let firstSeq: number | null = null;
  let position = offset;
  let carry = '';
  const decoder = new StringDecoder('utf8');
  const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  reading: while (position < fileBytes) {
    const got = readSync(fd, buffer, 0, Math.min(READ_CHUNK_BYTES, fileBytes - position), position);
    if (got <= 0) break;
    position += got;
    const text = carry + decoder.write(buffer.subarray(0, got));
    let start = 0;
    for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
      const line = text.slice(start, end);
      start = end + 1;
      if (line.length === 0) continue;
      const seq = seqOf(line);
      if (firstSeq === null && seq !== null) firstSeq = seq;
      if (seq !== null && seq < fromSeq) continue;
      // A page ends at `limit` frames or at about maxBytes of them (never empty): its answer must
      // fit what a transport carries, however wide each frame's histogram is.
      const full = frames.length >= limit || (frames.length > 0 && pageBytes + line.length > maxBytes);
      // nextSeq is always past the page's last frame: a frame out of order or repeated (two files
      // joined, a hand edit) made it name the page's own fromSeq, and a pager asked for the same
      // page for ever.
      if (seq !== null && full) { nextSeq = Math.max(seq, frames[frames.length - 1].seq + 1); break reading; }
      const frame = parseFrame(line);
      if (!frame) { skippedLines++; continue; }
      if (frame.seq < fromSeq) continue;
      if (full) { nextSeq = Math.max(frame.seq, frames[frames.length - 1].seq + 1); break reading; }
      frames.push(frame);
      pageBytes += line.length;
    }
    carry = text.slice(start);
  }
  // Text after the last newline: a write cut short by a crash (or under way right now).
  if (nextSeq === null && position >= fileBytes && carry.length > 0) skippedLines++;
  return { result: { frames, nextSeq, skippedLines }, firstSeq };
}

/** SparseHistogramSchema's rule ([index, count] pairs of non-negative integers) as one loop. */
function isSparseHistogram(value: unknown): value is SparseHistogram {
  if (!Array.isArray(value)) return false;
  for (const pair of value) {
    if (!Array.isArray(pair) || pair.length !== 2 || !Number.isInteger(pair[0]) || !Number.isInteger(pair[1]) || pair[0] < 0 || pair[1] < 0) return false;
  }
  return true;
}

/**
 * RunFrameSchema with the frame's latency histogram checked by that loop instead of a zod
 * tuple per bucket: the same rules, five times faster, and reading an hour of frames spends
 * most of its time here.
 */
const StoredFrameSchema = RunFrameSchema.extend({ histogram: z.custom<SparseHistogram>(isSparseHistogram, 'a sparse histogram: [index, count] pairs of non-negative integers') });

function parseFrame(line: string): RunFrame | null {
  try {
    const parsed = StoredFrameSchema.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
