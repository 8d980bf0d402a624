import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // cdktf's Testing.setupJest() registers its matchers on the global `expect`.
    globals: true,
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/support/setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Terraform and the synth are CPU-heavy; two cores.
    maxWorkers: 2,
  },
});
