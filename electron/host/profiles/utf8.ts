/**
 * UTF-8 checks for profile files: the text decoded strictly, and when it is not UTF-8 the
 * byte offset of the first bad sequence (or the UTF-16 byte-order mark that explains it), so
 * the error points at the place instead of showing replacement characters.
 */
import { LabError } from '../../contract';

/** The text of `bytes`, a leading UTF-8 BOM dropped; a one-line error naming the bad bytes otherwise. */
export function decodeUtf8(bytes: Uint8Array, shown: string): string {
  try {
    // Default ignoreBOM: false, so a leading UTF-8 BOM is accepted and dropped.
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const offset = firstInvalidUtf8(bytes);
    const shownBytes = Array.from(bytes.subarray(offset, offset + 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    const utf16 = (bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff);
    throw new LabError({
      code: 'PROFILE_NOT_JSON', field: 'profile',
      message: utf16
        ? `${shown}: is UTF-16 text (it starts with a UTF-16 byte-order mark), not UTF-8`
        : `${shown}: is not UTF-8 text: invalid byte sequence at byte offset ${offset} (bytes ${shownBytes})`,
      fix: 'save the profile as UTF-8 JSON',
    });
  }
}

/** Byte offset where the first byte sequence that is not well-formed UTF-8 starts. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  const cont = (j: number, lo = 0x80, hi = 0xbf) => j < bytes.length && bytes[j] >= lo && bytes[j] <= hi;
  while (i < bytes.length) {
    const b = bytes[i];
    if (b < 0x80) { i += 1; continue; }
    let need: number; let lo = 0x80; let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b === 0xe0) { need = 2; lo = 0xa0; }
    else if ((b >= 0xe1 && b <= 0xec) || b === 0xee || b === 0xef) need = 2;
    else if (b === 0xed) { need = 2; hi = 0x9f; }
    else if (b === 0xf0) { need = 3; lo = 0x90; }
    else if (b >= 0xf1 && b <= 0xf3) need = 3;
    else if (b === 0xf4) { need = 3; hi = 0x8f; }
    else return i;
    if (!cont(i + 1, lo, hi)) return i;
    for (let k = 2; k <= need; k++) if (!cont(i + k)) return i;
    i += need + 1;
  }
  return bytes.length;
}
