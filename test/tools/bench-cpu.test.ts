/**
 * The bench's CPU accounting: what a measured read cost in CPU per MiB, in this process and in the server's,
 * and how busy the read's thread was. These figures explain the unthrottled ratio, so they must measure.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { bestRates, coresInUse, cpuSecondsOfStat, processCpuSeconds } from "../../tools/bench/read-path";

const MiB = 1024 * 1024;
/** Keeps this thread busy until it has used `ms` of CPU (not of the clock: a busy machine stretches the clock). */
const spin = (ms: number) => {
  const start = process.cpuUsage();
  for (;;) {
    const used = process.cpuUsage(start);
    if ((used.user + used.system) / 1000 >= ms) return;
  }
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
    // Clock ticks of 10 ms: at least 290 ms of the 300 spent.
    expect(processCpuSeconds(process.pid)! - before).toBeGreaterThanOrEqual(0.29);
    expect(processCpuSeconds(2 ** 22 + 1)).toBeUndefined();
  });

  it("charges a busy server's CPU to the read, and reports an idle read's thread as idle", async () => {
    // A "server" that spins while the "read" only waits until the server has used 300 ms of CPU: that CPU is
    // the server's, and the read's thread is idle.
    child = spawn(process.execPath, ["-e", "process.stdout.write('up\\n'); for (;;);"], { stdio: ["ignore", "pipe", "ignore"] });
    await once(child.stdout!, "data");
    const pid = child.pid!;
    const waitForServer = async () => {
      const start = processCpuSeconds(pid)!;
      while (processCpuSeconds(pid)! - start < 0.3) await sleep(20);
      return "same";
    };
    const { costs } = await bestRates(MiB, 1, { waiting: waitForServer }, pid);
    // 300 ms of the server's CPU for 1 MiB (ticks of 10 ms either side).
    expect(costs.waiting.serverMsPerMiB).toBeGreaterThanOrEqual(280);
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
    const { costs } = await bestRates(MiB, 2, { read: async () => (round++ === 0 ? spin(300) : spin(50), "same") });
    expect(costs.read.clientMsPerMiB).toBeLessThan(200);
    let n = 0;
    await expect(bestRates(MiB, 2, { read: async () => String(n++) })).rejects.toThrow(/disagree/);
    // A run that hashes nothing (receiving alone) is measured beside the others without a digest to compare.
    const mixed = await bestRates(MiB, 1, { hashed: async () => "same", received: async () => undefined });
    expect(Object.keys(mixed.costs).sort()).toEqual(["hashed", "received"]);
  });
});

describe("a /proc/<pid>/stat line", () => {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
  const tail = "S 1 1 1 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 12345";

  it("gives utime + stime in seconds", () => {
    expect(cpuSecondsOfStat(`4242 (node) ${tail}`, 100)).toBeCloseTo(3);
  });

  it("reads the fields after the command name's last parenthesis, whatever the name holds", () => {
    expect(cpuSecondsOfStat(`4242 (n) 1 2 3 4 (x)) ${tail}`, 100)).toBeCloseTo(3);
  });

  it("gives nothing for a line it cannot read", () => {
    expect(cpuSecondsOfStat("garbage", 100)).toBeUndefined();
  });
});

describe("cores in use", () => {
  it("adds this process's and the server's CPU per MiB at the measured rate", () => {
    expect(coresInUse({ clientMsPerMiB: 2, serverMsPerMiB: 1, busy: 1 }, 500 * MiB)).toBeCloseTo(1.5);
    expect(coresInUse({ clientMsPerMiB: 2, busy: 1 }, 250 * MiB)).toBeCloseTo(0.5);
  });
});
