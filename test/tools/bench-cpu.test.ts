/**
 * The bench's CPU accounting: what a measured read cost in CPU per MiB, in this process and in the server's,
 * and how busy the read's thread was. These figures explain the unthrottled ratio, so they must measure.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { bestRates, coresInUse, processCpuSeconds } from "../../tools/bench/read-path";

const MiB = 1024 * 1024;
const spin = (ms: number) => {
  const until = Date.now() + ms;
  while (Date.now() < until);
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let child: ChildProcess | undefined;
afterEach(async () => {
  if (child && child.exitCode === null) {
    child.kill("SIGKILL");
    await once(child, "exit");
  }
  child = undefined;
});

describe.runIf(process.platform === "linux")("bench CPU accounting", () => {
  it("counts this process's CPU time, and none for a process that does not exist", () => {
    const before = processCpuSeconds(process.pid)!;
    spin(300);
    expect(processCpuSeconds(process.pid)! - before).toBeGreaterThanOrEqual(0.2);
    expect(processCpuSeconds(2 ** 22 + 1)).toBeUndefined();
  });

  it("charges a busy server's CPU to the read, and reports an idle read's thread as idle", async () => {
    // A "server" that spins while the "read" only waits: its CPU is the server's, the read's thread is idle.
    child = spawn(process.execPath, ["-e", "process.stdout.write('up\\n'); for (;;);"], { stdio: ["ignore", "pipe", "ignore"] });
    await once(child.stdout!, "data");
    const { rates, costs } = await bestRates(MiB, 1, { waiting: () => sleep(400).then(() => "same") }, child.pid);
    expect(rates.waiting).toBeLessThan(MiB / 0.35);
    // 400 ms of a spinning core for 1 MiB: about 400 ms per MiB (allowing for a busy machine's scheduling).
    expect(costs.waiting.serverMsPerMiB).toBeGreaterThan(150);
    expect(costs.waiting.clientMsPerMiB).toBeLessThan(100);
    expect(costs.waiting.busy).toBeLessThan(0.5);
  });

  it("reports a read that keeps its thread busy as busy, and costs without a server when none is given", async () => {
    const { costs } = await bestRates(MiB, 1, { spinning: async () => (spin(300), "same") });
    expect(costs.spinning.clientMsPerMiB).toBeGreaterThan(200);
    expect(costs.spinning.serverMsPerMiB).toBeUndefined();
    expect(costs.spinning.busy).toBeGreaterThan(0.9);
  });

  it("keeps the best round's cost, and refuses reads that disagree", async () => {
    let round = 0;
    const { rates, costs } = await bestRates(MiB, 2, { read: async () => (round++ === 0 ? spin(300) : spin(50), "same") });
    expect(rates.read).toBeGreaterThan(MiB / 0.2);
    expect(costs.read.clientMsPerMiB).toBeLessThan(200);
    let n = 0;
    await expect(bestRates(MiB, 2, { read: async () => String(n++) })).rejects.toThrow(/disagree/);
    // A run that hashes nothing (receiving alone) is measured beside the others without a digest to compare.
    const mixed = await bestRates(MiB, 1, { hashed: async () => "same", received: async () => undefined });
    expect(Object.keys(mixed.costs).sort()).toEqual(["hashed", "received"]);
  });
});

describe("cores in use", () => {
  it("adds this process's and the server's CPU per MiB at the measured rate", () => {
    expect(coresInUse({ clientMsPerMiB: 2, serverMsPerMiB: 1, busy: 1 }, 500 * MiB)).toBeCloseTo(1.5);
    expect(coresInUse({ clientMsPerMiB: 2, busy: 1 }, 250 * MiB)).toBeCloseTo(0.5);
  });
});
