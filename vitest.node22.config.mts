import { defineConfig } from "vitest/config";

// npm run test:node22 (tools/node22.ts): the function's tests on Node.js 22, the Lambda runtime's version.
export default defineConfig({
  test: {
    globals: true,
    include: ["test/lambda/**/*.test.ts"],
    setupFiles: ["test/support/setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    maxWorkers: 2,
    env: { EXPECT_NODE_MAJOR: "22" },
  },
});
