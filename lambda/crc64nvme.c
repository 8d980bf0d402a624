/*
 * CRC-64/NVME (the checksum S3 stores for every upload today), slicing-by-16, for WebAssembly.
 *
 * Compiled by `npm run build:wasm` (tools/build-wasm.ts: clang --target=wasm32, no libc) into
 * crc64nvme-wasm.ts, which the function loads (crc64nvme.ts). Slicing-by-16 reads 16 bytes per step
 * through 16 tables of 256 entries (32 KiB): 1.08–1.19 times hash-wasm's slicing-by-8 CRC64 here
 * (`npm run bench`), so that verifying with CRC64NVME keeps pace with SHA-256.
 *
 * Reflected polynomial 0x9a6c9329ac4bc9b5, initial value and final XOR all ones: `update(0, "123456789")`
 * is 0xae8b14860a799888, the catalogue's check value (test/lambda/crc64nvme.test.ts checks it and compares
 * with the AWS SDK's implementation).
 */
#include <stdint.h>

/** Bytes the caller may place at buffer() before each update(). */
#define BUFFER_BYTES (256 * 1024)

static uint64_t table[16][256];
static uint8_t input[BUFFER_BYTES];

/** Builds the tables for the reflected polynomial `poly`. Call once, before update(). */
__attribute__((export_name("init"))) void init(uint64_t poly) {
  for (int i = 0; i < 256; i++) {
    uint64_t crc = (uint64_t)i;
    for (int bit = 0; bit < 8; bit++) crc = (crc >> 1) ^ (-(crc & 1) & poly);
    table[0][i] = crc;
  }
  for (int i = 0; i < 256; i++) {
    uint64_t crc = table[0][i];
    for (int t = 1; t < 16; t++) {
      crc = (crc >> 8) ^ table[0][crc & 255];
      table[t][i] = crc;
    }
  }
}

/** Where the caller places the bytes of the next update(). */
__attribute__((export_name("buffer"))) uint8_t *buffer(void) { return input; }

/** How many bytes the buffer holds. */
__attribute__((export_name("capacity"))) uint32_t capacity(void) { return BUFFER_BYTES; }

static inline uint64_t load64(const uint8_t *p) {
  uint64_t v;
  __builtin_memcpy(&v, p, 8); /* WebAssembly is little-endian */
  return v;
}

/** The CRC of the bytes so far (`crc`, 0 for none) extended by the first `length` bytes of the buffer. */
__attribute__((export_name("update"))) uint64_t update(uint64_t crc, uint32_t length) {
  const uint8_t *p = input;
  uint64_t c = ~crc;
  if (length > BUFFER_BYTES) length = BUFFER_BYTES;
  for (; length >= 16; p += 16, length -= 16) {
    uint64_t a = load64(p) ^ c, b = load64(p + 8);
    c = table[15][a & 255] ^ table[14][(a >> 8) & 255] ^ table[13][(a >> 16) & 255] ^ table[12][(a >> 24) & 255] ^
        table[11][(a >> 32) & 255] ^ table[10][(a >> 40) & 255] ^ table[9][(a >> 48) & 255] ^ table[8][a >> 56] ^
        table[7][b & 255] ^ table[6][(b >> 8) & 255] ^ table[5][(b >> 16) & 255] ^ table[4][(b >> 24) & 255] ^
        table[3][(b >> 32) & 255] ^ table[2][(b >> 40) & 255] ^ table[1][(b >> 48) & 255] ^ table[0][b >> 56];
  }
  for (; length > 0; p++, length--) c = (c >> 8) ^ table[0][(c ^ *p) & 255];
  return ~c;
}
