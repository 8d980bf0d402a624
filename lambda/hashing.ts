/**
 * One pass over a stream: SHA-256 of every byte, the byte count, and the one checksum a DigestPlan asks
 * for (the algorithm S3 stored, over the whole object or part by part). Memory stays bounded: chunks are
 * hashed as they arrive and dropped, with the stream's own backpressure.
 *
 * Implementations, chosen by speed (`npm run bench` measures each as a ratio to SHA-256 alone):
 * SHA-256, SHA-1 and MD5 from node:crypto (native, with CPU extensions) and CRC32 from node:zlib;
 * CRC32C and CRC64NVME from hash-wasm (WebAssembly, inlined in the bundle), several times faster than
 * the AWS SDK's JavaScript ones and equal to them (test/lambda/hashing.test.ts).
 */
import { createHash } from "node:crypto";
import * as zlib from "node:zlib";
import { createCRC32, createCRC64 } from "hash-wasm";
import type { ComputedChecksums, ComputedDigest, DigestAlgorithm, DigestPlan } from "./checksums";

export interface StreamDigest extends ComputedChecksums {
  readonly bytes: number;
}

// zlib.crc32 exists from Node 20.15 and 22.2 (the Lambda nodejs22.x runtime has it).
const crc32 = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;
if (typeof crc32 !== "function") throw new Error("zlib.crc32 is missing: run on Node.js 20.15+ or 22.2+");

/** CRC-32C (Castagnoli), reflected polynomial. */
const CRC32C_POLYNOMIAL = 0x82f63b78;
/** CRC-64/NVME, reflected polynomial, as hash-wasm takes it. */
const CRC64NVME_POLYNOMIAL = "9a6c9329ac4bc9b5";

/** A running digest; `digest()` returns the value (big-endian, as S3 encodes it) and starts again. */
export interface Hasher {
  update(data: Uint8Array): void;
  digest(): Uint8Array;
}

function nodeHasher(name: "sha256" | "sha1" | "md5"): Hasher {
  let hash = createHash(name);
  return {
    update: (data) => void hash.update(data),
    digest() {
      const out = hash.digest();
      hash = createHash(name);
      return out;
    },
  };
}

function zlibCrc32(): Hasher {
  let crc = 0;
  return {
    update: (data) => void (crc = crc32!(data, crc)),
    digest() {
      const out = Buffer.alloc(4);
      out.writeUInt32BE(crc >>> 0);
      crc = 0;
      return out;
    },
  };
}

function wasmHasher(hasher: { init(): unknown; update(data: Uint8Array): unknown; digest(format: "binary"): Uint8Array }): Hasher {
  hasher.init();
  return {
    update: (data) => void hasher.update(data),
    digest() {
      const out = Buffer.from(hasher.digest("binary"));
      hasher.init();
      return out;
    },
  };
}

/** A new hasher of `algorithm`. */
export async function createHasher(algorithm: DigestAlgorithm): Promise<Hasher> {
  switch (algorithm) {
    case "SHA256":
      return nodeHasher("sha256");
    case "SHA1":
      return nodeHasher("sha1");
    case "MD5":
      return nodeHasher("md5");
    case "CRC32":
      return zlibCrc32();
    case "CRC32C":
      return wasmHasher(await createCRC32(CRC32C_POLYNOMIAL));
    case "CRC64NVME":
      return wasmHasher(await createCRC64(CRC64NVME_POLYNOMIAL));
  }
}

/** Feeds bytes into a hasher that restarts at each part boundary, collecting each part's digest. */
class PartwiseHasher {
  private readonly digests: Uint8Array[] = [];
  private index = 0;
  private left: number;
  private started = false;

  constructor(
    private readonly hasher: Hasher,
    private readonly sizes: readonly number[],
  ) {
    this.left = sizes.length > 0 ? sizes[0] : Infinity;
    this.closeEmptyParts();
  }

  update(data: Uint8Array): void {
    let offset = 0;
    while (offset < data.length) {
      const n = Math.min(this.left, data.length - offset);
      this.hasher.update(offset === 0 && n === data.length ? data : data.subarray(offset, offset + n));
      this.started = true;
      offset += n;
      this.left -= n;
      this.closeEmptyParts();
    }
  }

  /** The parts' digests; bytes past the last announced part count as one more part (which cannot match). */
  finish(): Uint8Array[] {
    if (this.started) this.digests.push(this.hasher.digest());
    return this.digests;
  }

  private closeEmptyParts(): void {
    while (this.left === 0) {
      this.digests.push(this.hasher.digest());
      this.started = false;
      this.index++;
      this.left = this.index < this.sizes.length ? this.sizes[this.index] : Infinity;
    }
  }
}

const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");

export async function digestStream(stream: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>, plan?: DigestPlan): Promise<StreamDigest> {
  const sha = createHash("sha256");
  const whole = plan && plan.partSizes === undefined ? await createHasher(plan.algorithm) : undefined;
  const partwise = plan?.partSizes ? new PartwiseHasher(await createHasher(plan.algorithm), plan.partSizes) : undefined;
  let bytes = 0;
  for await (const chunk of stream) {
    const data = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    sha.update(data);
    whole?.update(data);
    partwise?.update(data);
    bytes += data.length;
  }
  let verifying: ComputedDigest | undefined;
  if (plan && whole) verifying = { algorithm: plan.algorithm, value: base64(whole.digest()) };
  if (plan && partwise) {
    const parts = partwise.finish();
    // A composite checksum (and a multipart ETag) is the algorithm over the parts' binary digests, concatenated.
    const ofParts = await createHasher(plan.algorithm);
    for (const part of parts) ofParts.update(part);
    verifying = { algorithm: plan.algorithm, parts: parts.map(base64), ofParts: base64(ofParts.digest()) };
  }
  return { sha256Hex: sha.digest("hex"), bytes, ...(verifying ? { verifying } : {}) };
}
