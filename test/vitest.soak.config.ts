import { defineConfig } from 'vitest/config';
import base from './vitest.config';

// Soaks (test/**/*.soak.ts): scenarios repeated for minutes to catch what one run in the suite
// catches too rarely. Not part of `npm test`: `npm run soak:pool-pinning`
// (URING_LAB_SOAK_MINUTES, default 5).
export default defineConfig({ ...base, test: { ...base.test, include: ['test/**/*.soak.ts'] } });
