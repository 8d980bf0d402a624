/** Deterministic bytes and chunkings for the digest tests: a failure is reproducible. */
/** A deterministic generator (xorshift32), so a failure is reproducible. */
export function generator(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

export function bytes(random: () => number, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(random() * 256);
  return out;
}

/** `data` cut into chunks of random sizes (some empty), as a network stream delivers it. */
export function chunks(random: () => number, data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let offset = 0; offset < data.length; ) {
    const n = Math.floor(random() * 9000);
    out.push(data.subarray(offset, offset + n));
    offset += n;
  }
  return out;
}

