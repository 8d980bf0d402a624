/**
 * Verification of the bytes read against the checksum S3 stored for the object. Pure: the S3 adapter
 * reports what S3 stored and what was computed; this module decides whether they agree.
 */

/** What S3 reports of its stored checksum (HeadObject with ChecksumMode ENABLED), base64 values. */
export interface S3StoredChecksum {
  readonly type?: string;
  readonly crc32?: string;
  readonly crc32c?: string;
  readonly crc64nvme?: string;
  readonly sha1?: string;
  readonly sha256?: string;
}

/** Checksums computed from the bytes read. */
export interface ComputedChecksums {
  readonly sha256Hex: string;
  /** CRC32 as an unsigned 32-bit number. */
  readonly crc32: number;
}

/** What S3 itself says about the object's checksum, and whether it agrees with what was read. */
export interface S3ChecksumCheck {
  /** "FULL_OBJECT" or "COMPOSITE" (multipart, checksum of part checksums), or absent when S3 has none. */
  readonly type?: string;
  /** CRC32, CRC32C, CRC64NVME, SHA1, SHA256, or absent. */
  readonly algorithm?: string;
  /** S3's value, base64, as S3 returns it. */
  readonly value?: string;
  /**
   * "match": S3's full-object checksum equals the one computed from the bytes read;
   * "mismatch": it does not (logged as an error);
   * "not-comparable": S3's checksum is composite, or of an algorithm the function does not compute;
   * "absent": S3 stores no checksum for the object.
   */
  readonly verification: "match" | "mismatch" | "not-comparable" | "absent";
}

export function crc32Base64(crc: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc >>> 0);
  return b.toString("base64");
}

export function compareS3Checksum(stored: S3StoredChecksum, computed: ComputedChecksums): S3ChecksumCheck {
  const candidates: Array<[string, string | undefined]> = [
    ["SHA256", stored.sha256],
    ["CRC32", stored.crc32],
    ["CRC32C", stored.crc32c],
    ["CRC64NVME", stored.crc64nvme],
    ["SHA1", stored.sha1],
  ];
  const found = candidates.find(([, value]) => value !== undefined && value !== "");
  if (!found) return { verification: "absent" };
  const [algorithm, value] = found as [string, string];
  // A composite checksum (multipart uploads) is a checksum of the parts' checksums, written "<b64>-<parts>".
  const composite = stored.type === "COMPOSITE" || /-\d+$/.test(value);
  const type = stored.type ?? (composite ? "COMPOSITE" : "FULL_OBJECT");
  if (composite) return { type, algorithm, value, verification: "not-comparable" };
  let expected: string | undefined;
  if (algorithm === "SHA256") expected = Buffer.from(computed.sha256Hex, "hex").toString("base64");
  if (algorithm === "CRC32") expected = crc32Base64(computed.crc32);
  if (expected === undefined) return { type, algorithm, value, verification: "not-comparable" };
  return { type, algorithm, value, verification: expected === value ? "match" : "mismatch" };
}
