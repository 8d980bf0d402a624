/**
 * The cost of verification: the function's one-pass digest with each algorithm S3 may have stored, as a
 * ratio to the same pass computing SHA-256 alone, measured in one run on one generated stream, in-thread and
 * with the hashing on the digest worker (digest-offload.ts). For
 * comparison, the AWS SDK's own JavaScript CRC32C and CRC64NVME in the same pass (what hash-wasm replaces).
 */
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { AwsCrc32c } from "@aws-crypto/crc32c";
import { Crc64Nvme } from "@aws-sdk/crc64-nvme";
import type { DigestPlan } from "../../lambda/checksums";
import { digestStreamWith, DigestWorkerPool } from "../../lambda/digest-offload";
import { digestStream } from "../../lambda/hashing";
import { timed } from "./read-path";

const MiB = 1024 * 1024;

/** SHA-256 and a JavaScript checksum in one pass, as the SDK would compute it. */
async function withSdkChecksum(stream: Readable, checksum: { update(d: Uint8Array): void; digest(): Promise<Uint8Array> }) {
  const sha = createHash("sha256");
  for await (const chunk of stream) {
    sha.update(chunk);
    checksum.update(chunk);
  }
  return [sha.digest(), await checksum.digest()];
}

/** One pass of `plan`: in-thread, with the verifying algorithm on the worker, and with both hashes on it. */
type Variant = "in-thread" | "worker" | "worker, both";
const VARIANTS: Variant[] = ["in-thread", "worker", "worker, both"];

function pass(stream: Readable, plan: DigestPlan | undefined, variant: Variant, pool: DigestWorkerPool): Promise<unknown> {
  if (variant === "in-thread") return digestStream(stream, plan);
  return digestStreamWith(stream, plan, { pool, sha256OnWorker: variant === "worker, both" });
}

/** `rounds` rounds, each pass of each plan once per round (interleaved, so a busy machine slows all alike); the best of each. */
export async function verifyingReport(size: number, generated: (total: number) => Readable, rounds = 1): Promise<string[]> {
  const partSize = 16 * MiB;
  const partSizes = Array.from({ length: Math.ceil(size / partSize) }, (_, i) => Math.min(partSize, size - i * partSize));
  const plans: Array<[string, DigestPlan | undefined]> = [
    ["SHA-256 alone", undefined],
    ...(["CRC32", "CRC32C", "CRC64NVME", "SHA1", "MD5"] as const).map((algorithm) => [`SHA-256 + ${algorithm}`, { algorithm }] as [string, DigestPlan]),
    ["SHA-256 + CRC32C per 16 MiB part (composite)", { algorithm: "CRC32C", partSizes }],
    ["SHA-256 + SHA-256 per 16 MiB part (composite)", { algorithm: "SHA256", partSizes }],
  ];
  const pool = new DigestWorkerPool();
  const best = plans.map(() => new Map<Variant, number>());
  try {
    // The worker's start (once per container) is not what is measured here.
    await pass(generated(MiB), { algorithm: "CRC32" }, "worker", pool);
    for (let round = 0; round < rounds; round++) {
      for (const [i, [, plan]] of plans.entries()) {
        for (const variant of VARIANTS) {
          // Without a verifying algorithm, "worker" would be the in-thread pass: only "both" moves anything.
          if (plan === undefined && variant === "worker") continue;
          const rate = size / (await timed(() => pass(generated(size), plan, variant, pool))).seconds;
          best[i].set(variant, Math.max(best[i].get(variant) ?? 0, rate));
        }
      }
    }
  } finally {
    await pool.close();
  }
  const base = best[0].get("in-thread")!;
  const rows = plans.map(([name], i) => {
    const cell = (variant: Variant) => (best[i].has(variant) ? `${(best[i].get(variant)! / MiB).toFixed(0)} MiB/s = **${(best[i].get(variant)! / base).toFixed(2)}**` : "–");
    return `| ${name} | ${VARIANTS.map(cell).join(" | ")} |`;
  });
  for (const [name, checksum] of [
    ["SHA-256 + CRC32C, @aws-crypto/crc32c (not used)", () => new AwsCrc32c()],
    ["SHA-256 + CRC64NVME, @aws-sdk/crc64-nvme (not used)", () => new Crc64Nvme()],
  ] as const) {
    const rate = size / (await timed(() => withSdkChecksum(generated(size), checksum()))).seconds;
    rows.push(`| ${name} | ${(rate / MiB).toFixed(0)} MiB/s = ${(rate / base).toFixed(2)} | | |`);
  }
  return [
    `One-pass digest with each verifying algorithm, as a ratio to SHA-256 alone in-thread (same run, same stream, best of ${rounds} interleaved round(s); ` +
      "worker: the verifying algorithm on the digest worker, SHA-256 on the read's thread; worker, both: both hashes on the worker, the read's thread only copies):",
    "",
    "| pass | in-thread | worker | worker, both |",
    "| --- | --- | --- | --- |",
    ...rows,
  ];
}
