import { defineConfig } from "vitest/config";

// npm run test:reliability: the fault matrix on every call (FAULT_STRIDE=1) and many generated histories.
// Long; CI runs it after npm test (.ci/run).
export default defineConfig({
  test: {
    globals: true,
    include: ["test/lambda/faults.moto.test.ts", "test/lambda/index-model.property.test.ts"],
    setupFiles: ["test/support/setup.ts"],
    testTimeout: 3_600_000,
    hookTimeout: 120_000,
    maxWorkers: 2,
    env: { FAULT_STRIDE: "1", PROPERTY_RUNS: "3000" },
  },
});
