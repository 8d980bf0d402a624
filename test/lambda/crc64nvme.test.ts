/**
 * The project's CRC-64/NVME (crc64nvme.c in WebAssembly) gives the catalogue's check value and what the AWS
 * SDK's implementation and hash-wasm's give, on inputs shorter than one step, across the module's buffer
 * boundary and at any alignment, however the bytes are split between updates.
 */
import { Crc64Nvme } from "@aws-sdk/crc64-nvme";
import { createCRC64 } from "hash-wasm";
import { describe, expect, it } from "vitest";
import { crc64nvme, crc64nvmeHasher } from "../../lambda/crc64nvme";
import { createHasher } from "../../lambda/hashing";
import { bytes, generator } from "../support/byte-streams";

/** The module's buffer: inputs longer than this take several update() calls. */
const CAPACITY = 256 * 1024;

async function sdk(data: Uint8Array): Promise<bigint> {
  const crc = new Crc64Nvme();
  crc.update(data);
  return Buffer.from(await crc.digest()).readBigUInt64BE();
}

describe("CRC-64/NVME in WebAssembly", () => {
  it("gives the check value of CRC-64/NVME for 123456789, and 0 for nothing", () => {
    expect(crc64nvme(Buffer.from("123456789")).toString(16)).toBe("ae8b14860a799888");
    expect(crc64nvme(new Uint8Array(0))).toBe(0n);
  });

  it("equals the AWS SDK's CRC64NVME on short inputs, around the module's buffer size and far past it", async () => {
    const random = generator(64);
    const lengths = [1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 255, 4096, CAPACITY - 1, CAPACITY, CAPACITY + 1, 2 * CAPACITY + 15, 3 * CAPACITY + 16];
    for (const length of lengths) {
      const data = bytes(random, length);
      expect(crc64nvme(data), `${length} bytes`).toBe(await sdk(data));
    }
  });

  it("reads a view at any offset of its buffer, and chains updates as one pass over their bytes", async () => {
    const random = generator(6464);
    const whole = bytes(random, 3 * CAPACITY + 1001);
    for (let trial = 0; trial < 12; trial++) {
      const start = Math.floor(random() * 17);
      const data = whole.subarray(start, whole.length - Math.floor(random() * 29));
      const expected = await sdk(data);
      expect(crc64nvme(data)).toBe(expected);
      const hasher = crc64nvmeHasher();
      for (let at = 0; at < data.length; ) {
        const n = Math.min(data.length - at, 1 + Math.floor(random() * (trial % 2 ? 70_000 : 40)));
        hasher.update(data.subarray(at, at + n));
        at += n;
      }
      expect(Buffer.from(hasher.digest()).readBigUInt64BE(), `trial ${trial}`).toBe(expected);
    }
  });

  it("keeps each hasher's running value its own while they share the thread's module", async () => {
    // The per-part hashing, the digest worker's jobs and concurrent reads all interleave hashers in one thread.
    const random = generator(4242);
    const a = bytes(random, 2 * CAPACITY + 77);
    const b = bytes(random, CAPACITY + 5);
    const [first, second] = [crc64nvmeHasher(), crc64nvmeHasher()];
    const step = 50_000;
    for (let at = 0; at < Math.max(a.length, b.length); at += step) {
      first.update(a.subarray(at, at + step));
      second.update(b.subarray(at, at + step));
    }
    expect(Buffer.from(first.digest()).readBigUInt64BE()).toBe(await sdk(a));
    expect(Buffer.from(second.digest()).readBigUInt64BE()).toBe(await sdk(b));
  });

  it("starts again after each digest, as the per-part hashing needs", () => {
    const hasher = crc64nvmeHasher();
    hasher.update(Buffer.from("not this"));
    hasher.digest();
    hasher.update(Buffer.from("123456789"));
    expect(Buffer.from(hasher.digest()).toString("hex")).toBe("ae8b14860a799888");
    expect(Buffer.from(hasher.digest()).toString("hex")).toBe("0000000000000000");
  });

  it("agrees with hash-wasm's CRC64, which the resumable engine keeps for saved continuations", async () => {
    const random = generator(4646);
    const wasm = await createCRC64("9a6c9329ac4bc9b5");
    for (const length of [0, 5, 1000, 70_001, CAPACITY + 3]) {
      const data = bytes(random, length);
      wasm.init();
      wasm.update(data);
      expect(crc64nvme(data).toString(16).padStart(16, "0")).toBe(wasm.digest("hex"));
    }
    // The native engine uses this module; the resumable one hash-wasm, whose saved state it can load.
    expect((await createHasher("CRC64NVME")).save).toBeUndefined();
    expect((await createHasher("CRC64NVME", "resumable")).save).toBeTypeOf("function");
  });
});
