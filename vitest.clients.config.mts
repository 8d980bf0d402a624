import { defineConfig } from "vitest/config";

/**
 * `npm run test:clients`: real S3 clients (AWS CLI, rclone, s3cmd from Debian's packages), moto_server, and
 * the long local-mode runs, kept out of `npm test` for time. `.ci/run` installs the clients and runs it.
 */
export default defineConfig({
  test: {
    globals: true,
    include: ["test/clients/**/*.clients.ts"],
    setupFiles: ["test/support/setup.ts"],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    // Machines are shared: one file at a time.
    fileParallelism: false,
  },
});
