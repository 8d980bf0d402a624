import { defineConfig } from "vitest/config";

/**
 * `npm run test:deploy`: the deploy suite. Each file starts its own moto_server on a free port and runs
 * `npx cdktf deploy` against it, so a test takes minutes, not seconds. Two files run at a time (two cores;
 * most of a deploy is waiting on the API).
 */
export default defineConfig({
  test: {
    globals: true,
    include: ["test/deploy/**/*.test.ts"],
    setupFiles: ["test/support/setup.ts"],
    testTimeout: 600_000,
    hookTimeout: 600_000,
    maxWorkers: 2,
    // A deploy test is a sequence: one step builds on the resources of the one before.
    sequence: { concurrent: false },
  },
});
