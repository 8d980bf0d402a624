/**
 * The native CRCs (the AWS Common Runtime's binary, lambda/native-checksums.ts) give the reference values
 * (the AWS SDK's CRC64NVME, AWS crypto's CRC32C) however the stream is chunked, whole and per part; a read
 * saved by one implementation continues in the other; and which reads open the binary is decided by size.
 */
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import type { DigestAlgorithm } from "../../lambda/checksums";
import { createHasher, Digest, feedDigest } from "../../lambda/hashing";
import {
  NATIVE_CHECKSUMS_MIN_BYTES,
  nativeChecksums,
  nativeChecksumsCandidates,
  nativeChecksumsFile,
  openNativeChecksums,
  wantsNative,
} from "../../lambda/native-checksums";
import { bytes, chunks, generator } from "../support/byte-streams";
import { referenceDigest } from "../support/s3-checksums";
import { tempDir } from "../support/temp";

const NATIVE: DigestAlgorithm[] = ["CRC32C", "CRC64NVME"];
const MiB = 1024 * 1024;

/** The binary this machine's tests use: the package's, for this platform. */
function native() {
  const checksums = nativeChecksums();
  if (!checksums) throw new Error(`the native checksums did not open here: ${nativeChecksumsCandidates().join(", ")}`);
  return checksums;
}

describe("the native CRCs", () => {
  it("are found in the aws-crt package when the code runs from source", () => {
    expect(nativeChecksumsFile()).toMatch(/node_modules\/aws-crt\/dist\/bin\/linux-(x64|arm64)-glibc\/aws-crt-nodejs\.node$/);
  });

  it.each(NATIVE)("compute %s exactly as the reference does, whole and per part, on 60 inputs however chunked", async (algorithm) => {
    const random = generator(algorithm.length * 48271);
    const lengths = [0, 1, 7, 8, 15, 16, 63, 64, 65, 4095, 4096, 65537, ...Array.from({ length: 48 }, () => Math.floor(random() * 300_000))];
    for (const length of lengths) {
      const data = bytes(random, length);
      const digest = await Digest.create({ algorithm }, "native", undefined, native());
      const result = await feedDigest(chunks(random, data), digest);
      expect(result.verifying?.value, `${algorithm} of ${length} bytes`).toBe((await referenceDigest(algorithm, data)).toString("base64"));
    }
    for (let trial = 0; trial < 15; trial++) {
      const sizes = Array.from({ length: 1 + Math.floor(random() * 5) }, () => 1 + Math.floor(random() * 40_000));
      const data = bytes(random, sizes.reduce((a, b) => a + b, 0));
      const result = await feedDigest(chunks(random, data), await Digest.create({ algorithm, partSizes: sizes }, "native", undefined, native()));
      const expected: Buffer[] = [];
      for (let offset = 0, i = 0; i < sizes.length; offset += sizes[i], i++) expected.push(await referenceDigest(algorithm, data.subarray(offset, offset + sizes[i])));
      expect(result.verifying?.parts).toEqual(expected.map((d) => d.toString("base64")));
      expect(result.verifying?.ofParts).toBe((await referenceDigest(algorithm, Buffer.concat(expected))).toString("base64"));
    }
  });

  it.each(NATIVE)("save %s as its value, so a read saved by either implementation continues in the other to the same value", async (algorithm) => {
    const random = generator(algorithm.length * 16807);
    for (let trial = 0; trial < 20; trial++) {
      const data = bytes(random, Math.floor(random() * 200_000));
      const cut = Math.floor(random() * (data.length + 1));
      const expected = (await referenceDigest(algorithm, data)).toString("hex");
      for (const [first, second] of [
        [native(), undefined],
        [undefined, native()],
        [native(), native()],
        [undefined, undefined],
      ] as const) {
        const a = await createHasher(algorithm, "resumable", first);
        a.update(data.subarray(0, cut));
        const state = a.save!();
        expect(state).toMatch(algorithm === "CRC32C" ? /^[0-9a-f]{8}$/ : /^[0-9a-f]{16}$/);
        const b = await createHasher(algorithm, "resumable", second);
        b.load!(state);
        b.update(data.subarray(cut));
        expect(Buffer.from(b.digest()).toString("hex"), `${algorithm}, cut at ${cut} of ${data.length}`).toBe(expected);
      }
    }
  });

  it.each(NATIVE)("continue a %s state saved before this change (hash-wasm's own, base64) in either implementation", async (algorithm) => {
    const data = bytes(generator(7), 100_000);
    // hash-wasm's own state: a 4-byte header, then the value little-endian, as reads in flight saved it.
    const hashWasm = await import("hash-wasm");
    const legacy = algorithm === "CRC32C" ? await hashWasm.createCRC32(0x82f63b78) : await hashWasm.createCRC64("9a6c9329ac4bc9b5");
    legacy.init();
    legacy.update(data.subarray(0, 41_234));
    const saved = Buffer.from(legacy.save()).toString("base64");
    for (const implementation of [native(), undefined]) {
      const hasher = await createHasher(algorithm, "resumable", implementation);
      hasher.load!(saved);
      hasher.update(data.subarray(41_234));
      expect(Buffer.from(hasher.digest())).toEqual(await referenceDigest(algorithm, data));
    }
  });

  it("refuse a saved CRC state of the wrong length, naming it", async () => {
    const hasher = await createHasher("CRC64NVME", "resumable", native());
    expect(() => hasher.load!("0123abcd")).toThrow(/8 bytes must be 16 hex digits/);
  });

  it("keep SHA-256 as it was: the digest's SHA-256 does not depend on the CRCs' implementation", async () => {
    const data = bytes(generator(3), 70_000);
    const result = await feedDigest([data], await Digest.create({ algorithm: "CRC64NVME" }, "native", undefined, native()));
    expect(result.sha256Hex).toBe(createHash("sha256").update(data).digest("hex"));
  });
});

describe("opening the binary", () => {
  it("refuses a file that is not the binary, saying which file and why", () => {
    const file = path.join(tempDir("cix-native-"), "aws-crt-nodejs.node");
    writeFileSync(file, "not an ELF file");
    expect(() => openNativeChecksums(file)).toThrow(/aws-crt-nodejs\.node/);
  });

  it("looks beside the bundled code first, then in the project's node_modules", () => {
    const [beside, installed] = nativeChecksumsCandidates("/var/task");
    expect(beside).toBe("/var/task/aws-crt-nodejs.node");
    expect(installed).toMatch(/^\/var\/node_modules\/aws-crt\/dist\/bin\/linux-(x64|arm64)-(glibc|musl)\/aws-crt-nodejs\.node$/);
  });
});

describe("which reads open the binary (wantsNative)", () => {
  const large = NATIVE_CHECKSUMS_MIN_BYTES;
  it.each([
    ["a CRC64NVME read of 128 MiB", { algorithm: "CRC64NVME", bytes: large, resumable: false, open: false }, true],
    ["a CRC32C read of 128 MiB", { algorithm: "CRC32C", bytes: large, resumable: false, open: false }, true],
    ["a CRC64NVME read just under 128 MiB", { algorithm: "CRC64NVME", bytes: large - 1, resumable: false, open: false }, false],
    ["a small read once the binary is open", { algorithm: "CRC64NVME", bytes: 10, resumable: false, open: true }, true],
    ["a read that may continue (resumable), whatever its size", { algorithm: "CRC32C", bytes: 5 * MiB, resumable: true, open: false }, true],
    ["a read of unknown size", { algorithm: "CRC64NVME", bytes: undefined, resumable: false, open: false }, false],
    ["a CRC32 read (zlib is as fast)", { algorithm: "CRC32", bytes: large, resumable: false, open: true }, false],
    ["an MD5 read", { algorithm: "MD5", bytes: large, resumable: true, open: true }, false],
    ["a read with nothing to verify", { algorithm: undefined, bytes: large, resumable: false, open: true }, false],
  ] as const)("%s: %s", (_name, read, expected) => {
    expect(wantsNative(read)).toBe(expected);
  });
});
