import { defineConfig } from 'vitest/config';
import base from './vitest.config';

// Soaks (test/**/*.soak.ts): scenarios repeated for minutes to catch what one run in the suite
// catches too rarely. Not part of `npm test`: `npm run soak:pool-pinning`
// (URING_LAB_SOAK_MINUTES, default 5).
// One project of their own: the suite's two (shares-the-machine, alone) would pick the *.test.ts files.
export default defineConfig({ ...base, test: { ...base.test, projects: undefined, include: ['test/**/*.soak.ts'] } });
