/**
 * The cost of verification: the function's one-pass digest with each algorithm S3 may have stored, as a
 * ratio to the same pass computing SHA-256 alone, measured in one run on one generated stream. For
 * comparison, the AWS SDK's own JavaScript CRC32C and CRC64NVME in the same pass (what hash-wasm replaces).
 */
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { AwsCrc32c } from "@aws-crypto/crc32c";
import { Crc64Nvme } from "@aws-sdk/crc64-nvme";
import type { DigestPlan } from "../../lambda/checksums";
import { digestStream } from "../../lambda/hashing";

const MiB = 1024 * 1024;

async function seconds(work: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** SHA-256 and a JavaScript checksum in one pass, as the SDK would compute it. */
async function withSdkChecksum(stream: Readable, checksum: { update(d: Uint8Array): void; digest(): Promise<Uint8Array> }) {
  const sha = createHash("sha256");
  for await (const chunk of stream) {
    sha.update(chunk);
    checksum.update(chunk);
  }
  return [sha.digest(), await checksum.digest()];
}

export async function verifyingReport(size: number, generated: (total: number) => Readable): Promise<string[]> {
  const partSize = 16 * MiB;
  const partSizes = Array.from({ length: Math.ceil(size / partSize) }, (_, i) => Math.min(partSize, size - i * partSize));
  const runs: Array<[string, () => Promise<unknown>]> = [
    ["SHA-256 alone", () => digestStream(generated(size))],
    ...(["CRC32", "CRC32C", "CRC64NVME", "SHA1", "MD5"] as const).map(
      (algorithm) => [`SHA-256 + ${algorithm}`, () => digestStream(generated(size), { algorithm } satisfies DigestPlan)] as [string, () => Promise<unknown>],
    ),
    [`SHA-256 + CRC32C per 16 MiB part (composite)`, () => digestStream(generated(size), { algorithm: "CRC32C", partSizes })],
    [`SHA-256 + SHA-256 per 16 MiB part (composite)`, () => digestStream(generated(size), { algorithm: "SHA256", partSizes })],
    ["SHA-256 + CRC32C, @aws-crypto/crc32c (not used)", () => withSdkChecksum(generated(size), new AwsCrc32c())],
    ["SHA-256 + CRC64NVME, @aws-sdk/crc64-nvme (not used)", () => withSdkChecksum(generated(size), new Crc64Nvme())],
  ];
  const rates: Array<[string, number]> = [];
  for (const [name, work] of runs) rates.push([name, size / (await seconds(work))]);
  const base = rates[0][1];
  return [
    "One-pass digest with each verifying algorithm, as a ratio to SHA-256 alone (same run, same stream):",
    "",
    "| pass | throughput | ratio to SHA-256 alone |",
    "| --- | --- | --- |",
    ...rates.map(([name, rate]) => `| ${name} | ${(rate / MiB).toFixed(0)} MiB/s | ${(rate / base).toFixed(2)} |`),
  ];
}
