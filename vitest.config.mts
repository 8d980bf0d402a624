import { configDefaults, defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // cdktf's Testing.setupJest() registers its matchers on the global `expect`.
    globals: true,
    include: ["test/**/*.test.ts"],
    // The deploy suite (minutes, against moto) has its own config and script: npm run test:deploy.
    exclude: [...configDefaults.exclude, "test/deploy/**"],
    setupFiles: ["test/support/setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Terraform and the synth are CPU-heavy; two cores.
    maxWorkers: 2,
  },
});
