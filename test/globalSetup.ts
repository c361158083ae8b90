/**
 * One temporary folder per `vitest run`: the config points TMPDIR (so os.tmpdir() in the tests,
 * and in the CLIs, engines and browsers they start) and the runs folder into it, and this
 * teardown removes it. Tests make hundreds of mkdtemp folders; without this they piled up in
 * /tmp (62,000 after a few days of runs here).
 */
import { rmSync } from 'node:fs';

export default function setup(): () => void {
  return () => {
    const dir = process.env.URING_LAB_TEST_TMP;
    if (dir && process.env.URING_LAB_KEEP_TEST_TMP !== '1') rmSync(dir, { recursive: true, force: true });
  };
}
