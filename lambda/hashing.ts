/**
 * One pass over a stream: SHA-256 of every byte, the byte count, and the one checksum a DigestPlan asks
 * for (the algorithm S3 stored, over the whole object or part by part). Memory stays bounded: chunks are
 * hashed as they arrive and dropped, with the stream's own backpressure.
 *
 * Implementations, chosen by speed (`npm run bench` measures each as a ratio to SHA-256 alone):
 * SHA-256, SHA-1 and MD5 from node:crypto (native, with CPU extensions) and CRC32 from node:zlib;
 * CRC32C from hash-wasm and CRC64NVME from the project's own slicing-by-16 (crc64nvme.ts, 1.12–1.19× hash-wasm's
 * here), both WebAssembly inlined in the bundle, several times faster than the AWS SDK's JavaScript ones
 * and equal to them (test/lambda/hashing.test.ts, test/lambda/crc64nvme.test.ts).
 *
 * Two engines. "native" (above) is the fastest but node:crypto cannot export a running hash. "resumable"
 * computes the same values with hash-wasm (SHA-256, SHA-1, MD5, CRC32C, CRC64NVME) and zlib (CRC32, whose
 * state is its value), and can `save()` the whole digest (byte count, SHA-256, the verifying algorithm and
 * its per-part progress) as JSON, to be `load`ed by another invocation (a continuation, see continuation.ts).
 * It is slower (`npm run bench`), so it is used only for reads that may not finish in one invocation.
 */
import { createHash } from "node:crypto";
import * as zlib from "node:zlib";
import { createCRC32, createCRC64, createMD5, createSHA1, createSHA256 } from "hash-wasm";
import type { ComputedChecksums, ComputedDigest, DigestAlgorithm, DigestPlan } from "./checksums";
import { CRC64NVME_REFLECTED, crc64nvmeHasher } from "./crc64nvme";

export interface StreamDigest extends ComputedChecksums {
  readonly bytes: number;
}

// zlib.crc32 exists from Node 20.15 and 22.2 (the Lambda nodejs22.x runtime has it).
const crc32 = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;
if (typeof crc32 !== "function") throw new Error("zlib.crc32 is missing: run on Node.js 20.15+ or 22.2+");

/** CRC-32C (Castagnoli), reflected polynomial. */
const CRC32C_POLYNOMIAL = 0x82f63b78;
/** CRC-64/NVME, reflected polynomial, as hash-wasm takes it (hex). */
const CRC64NVME_POLYNOMIAL = CRC64NVME_REFLECTED.toString(16);

/** A running digest; `digest()` returns the value (big-endian, as S3 encodes it) and starts again. */
export interface Hasher {
  update(data: Uint8Array): void;
  digest(): Uint8Array;
  /** The running state, base64 (resumable hashers only). */
  save?(): string;
  /** Resumes a state from `save()`. */
  load?(state: string): void;
}

export type DigestEngine = "native" | "resumable";

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
    save: () => String(crc >>> 0),
    load: (state) => void (crc = Number(state)),
    digest() {
      const out = Buffer.alloc(4);
      out.writeUInt32BE(crc >>> 0);
      crc = 0;
      return out;
    },
  };
}

interface WasmHasher {
  init(): unknown;
  update(data: Uint8Array): unknown;
  digest(format: "binary"): Uint8Array;
  save(): Uint8Array;
  load(state: Uint8Array): unknown;
}

function wasmHasher(hasher: WasmHasher): Hasher {
  hasher.init();
  return {
    update: (data) => void hasher.update(data),
    save: () => Buffer.from(hasher.save()).toString("base64"),
    load: (state) => void hasher.load(Buffer.from(state, "base64")),
    digest() {
      const out = Buffer.from(hasher.digest("binary"));
      hasher.init();
      return out;
    },
  };
}

/** A new hasher of `algorithm`; "resumable" ones can save and load their state. */
export async function createHasher(algorithm: DigestAlgorithm, engine: DigestEngine = "native"): Promise<Hasher> {
  if (engine === "resumable") {
    switch (algorithm) {
      case "SHA256":
        return wasmHasher(await createSHA256());
      case "SHA1":
        return wasmHasher(await createSHA1());
      case "MD5":
        return wasmHasher(await createMD5());
      case "CRC64NVME":
        return wasmHasher(await createCRC64(CRC64NVME_POLYNOMIAL));
      default:
        break;
    }
  }
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
      return crc64nvmeHasher();
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

  save(): PartwiseState {
    return { index: this.index, left: Number.isFinite(this.left) ? this.left : null, started: this.started, digests: this.digests.map(base64) };
  }

  load(state: PartwiseState): void {
    this.digests.splice(0, this.digests.length, ...state.digests.map((d) => Buffer.from(d, "base64")));
    this.index = state.index;
    this.left = state.left ?? Infinity;
    this.started = state.started;
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

/** Progress of a per-part digest: the part being hashed, its bytes left, and the finished parts' digests (base64). */
export interface PartwiseState {
  readonly index: number;
  /** Bytes left in the current part; null past the last announced part. */
  readonly left: number | null;
  readonly started: boolean;
  readonly digests: readonly string[];
}

/** A resumable digest's whole state, JSON: what a continuation saves and the next invocation loads. */
export interface DigestState {
  readonly bytes: number;
  /** hash-wasm's SHA-256 state, base64. */
  readonly sha256: string;
  /** The verifying algorithm's state (base64, or CRC32's value) and, for plans with parts, its progress. */
  readonly verifying?: { readonly hasher: string; readonly parts?: PartwiseState };
}

const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");

/**
 * The verifying part of the one-pass digest: the plan's algorithm over the whole object, or part by part
 * and then over the parts' digests (a composite checksum, a multipart ETag). Digest runs it beside SHA-256;
 * the digest worker (digest-worker.ts) runs it on another thread.
 */
export class VerifyingDigest {
  private constructor(
    private readonly plan: DigestPlan,
    private readonly verifier: Hasher,
    private readonly partwise: PartwiseHasher | undefined,
  ) {}

  static async create(plan: DigestPlan, engine: DigestEngine = "native"): Promise<VerifyingDigest> {
    const verifier = await createHasher(plan.algorithm, engine);
    return new VerifyingDigest(plan, verifier, plan.partSizes ? new PartwiseHasher(verifier, plan.partSizes) : undefined);
  }

  update(data: Uint8Array): void {
    if (this.partwise) this.partwise.update(data);
    else this.verifier.update(data);
  }

  save(): NonNullable<DigestState["verifying"]> {
    return { hasher: this.verifier.save!(), ...(this.partwise ? { parts: this.partwise.save() } : {}) };
  }

  load(state: DigestState["verifying"]): void {
    if (!state) throw new RangeError("the saved digest has no state of the verifying algorithm");
    this.verifier.load!(state.hasher);
    if (this.partwise) {
      if (!state.parts) throw new RangeError("the saved digest has no per-part progress");
      this.partwise.load(state.parts);
    }
  }

  async finish(): Promise<ComputedDigest> {
    const algorithm = this.plan.algorithm;
    if (!this.partwise) return { algorithm, value: base64(this.verifier.digest()) };
    const parts = this.partwise.finish();
    // A composite checksum (and a multipart ETag) is the algorithm over the parts' binary digests, concatenated.
    const ofParts = await createHasher(algorithm);
    for (const part of parts) ofParts.update(part);
    return { algorithm, parts: parts.map(base64), ofParts: base64(ofParts.digest()) };
  }
}

/** What a read feeds its bytes into: the in-thread Digest, or one that hashes on a worker thread (digest-offload.ts). */
export interface RunningDigest {
  readonly bytes: number;
  /** Takes a chunk; a promise when the caller must wait before the next one (backpressure). */
  update(chunk: Uint8Array | string): void | Promise<void>;
  finish(): Promise<StreamDigest>;
  /** Gives up without a result (the read failed): frees what the digest holds. */
  discard(): void;
}

/** The one-pass digest: SHA-256, the byte count and what the plan asks for, on the calling thread. */
export class Digest implements RunningDigest {
  bytes = 0;

  private constructor(
    private readonly engine: DigestEngine,
    private readonly sha: Hasher,
    private readonly verifying: VerifyingDigest | undefined,
  ) {}

  /** A new digest, or (resumable engine only) one that continues a saved state. */
  static async create(plan: DigestPlan | undefined, engine: DigestEngine = "native", state?: DigestState): Promise<Digest> {
    if (state !== undefined && engine !== "resumable") throw new RangeError("only a resumable digest can continue a saved state");
    const sha = await createHasher("SHA256", engine);
    const digest = new Digest(engine, sha, plan ? await VerifyingDigest.create(plan, engine) : undefined);
    if (state) {
      digest.bytes = state.bytes;
      sha.load!(state.sha256);
      digest.verifying?.load(state.verifying);
    }
    return digest;
  }

  update(chunk: Uint8Array | string): void {
    const data = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    this.sha.update(data);
    this.verifying?.update(data);
    this.bytes += data.length;
  }

  /** The state to continue from (resumable engine only). */
  save(): DigestState {
    if (this.engine !== "resumable") throw new RangeError("a native digest (node:crypto) cannot save its state");
    return { bytes: this.bytes, sha256: this.sha.save!(), ...(this.verifying ? { verifying: this.verifying.save() } : {}) };
  }

  async finish(): Promise<StreamDigest> {
    const verifying = await this.verifying?.finish();
    return { sha256Hex: Buffer.from(this.sha.digest()).toString("hex"), bytes: this.bytes, ...(verifying ? { verifying } : {}) };
  }

  discard(): void {}
}

/** Feeds a stream into a digest, waiting where it asks to; a failed stream discards the digest. */
export async function feedDigest(stream: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>, digest: RunningDigest): Promise<StreamDigest> {
  try {
    for await (const chunk of stream) {
      const wait = digest.update(chunk);
      if (wait) await wait;
    }
    return await digest.finish();
  } catch (error) {
    digest.discard();
    throw error;
  }
}

export async function digestStream(
  stream: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  plan?: DigestPlan,
  engine: DigestEngine = "native",
): Promise<StreamDigest> {
  return feedDigest(stream, await Digest.create(plan, engine));
}
