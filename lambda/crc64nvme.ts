/**
 * CRC-64/NVME in WebAssembly, slicing-by-16 (crc64nvme.c, compiled into crc64nvme-wasm.ts by
 * `npm run build:wasm`): the checksum S3 stores for every upload today, at about SHA-256's pace. One module
 * instance per thread (the digest worker has its own), its tables built once; a hasher keeps only its
 * running value. It is the "native" engine's CRC64NVME; the resumable engine keeps hash-wasm's, whose saved
 * state continuations carry (hashing.ts).
 */
import { CRC64NVME_WASM } from "./crc64nvme-wasm";

/** CRC-64/NVME's reflected polynomial. */
export const CRC64NVME_REFLECTED = 0x9a6c9329ac4bc9b5n;

/** The part of the WebAssembly API used here (the project's TypeScript libraries do not declare it). */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: unknown };
};

interface Kernel {
  readonly memory: { readonly buffer: ArrayBuffer };
  init(poly: bigint): void;
  buffer(): number;
  capacity(): number;
  update(crc: bigint, length: number): bigint;
}

let kernel: { exports: Kernel; input: Uint8Array } | undefined;

/** This thread's instance: compiled (about 1.5 KB, synchronously) and its tables built on first use. */
function instance(): { exports: Kernel; input: Uint8Array } {
  if (kernel === undefined) {
    const exports = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(CRC64NVME_WASM, "base64")), {}).exports as unknown as Kernel;
    exports.init(CRC64NVME_REFLECTED);
    // The module never grows its memory, so this view stays valid.
    kernel = { exports, input: new Uint8Array(exports.memory.buffer, exports.buffer(), exports.capacity()) };
  }
  return kernel;
}

/** The CRC-64/NVME of the bytes so far (`crc`, 0n for none) extended by `data`. Pure. */
export function crc64nvme(data: Uint8Array, crc = 0n): bigint {
  const { exports, input } = instance();
  let value = crc;
  for (let offset = 0; offset < data.length; offset += input.length) {
    const piece = data.subarray(offset, offset + input.length);
    input.set(piece);
    value = exports.update(value, piece.length);
  }
  // i64 results arrive signed.
  return BigInt.asUintN(64, value);
}

/** A running CRC-64/NVME; `digest()` gives its 8 bytes big-endian, as S3 encodes it, and starts again. */
export function crc64nvmeHasher(): { update(data: Uint8Array): void; digest(): Uint8Array } {
  let crc = 0n;
  return {
    update: (data) => void (crc = crc64nvme(data, crc)),
    digest() {
      const out = Buffer.alloc(8);
      out.writeBigUInt64BE(crc);
      crc = 0n;
      return out;
    },
  };
}
