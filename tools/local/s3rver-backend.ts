/**
 * s3rver, in-process, with a store that survives parallel deletes.
 *
 * s3rver's filesystem store removes a folder once its last object is deleted, walking up the key's
 * segments. Two deletes emptying one folder at the same time race: the loser's `readdir` fails with
 * ENOENT and the call answers 500 after the object was deleted; an upload into a folder being removed
 * fails the same way. Here a delete removes the object's files only; emptied folders are swept when the
 * server starts and stops, when nothing else runs. Listings walk files, so empty folders change nothing.
 *
 * s3rver also answers an upload before its file is flushed: putObject here waits for it (`flushed`).
 */
import { readdirSync, rmdirSync, statSync } from "node:fs";
import { stat, unlink } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import type { StorageBackend, StoredObject } from "./backend";
// s3rver ships no types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require("s3rver");

/** The part of s3rver's FilesystemStore the local endpoint uses. */
export interface S3rverStore {
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  getBucket(bucket: string): Promise<unknown>;
  getMetadata(bucket: string, key: string): Promise<Record<string, string | number>>;
  getObject(bucket: string, key: string, range?: { start?: number; end?: number }): Promise<{ content: NodeJS.ReadableStream | null; metadata: Record<string, string> }>;
  putPart(bucket: string, uploadId: string, partNumber: number, content: NodeJS.ReadableStream): Promise<{ size: number; md5: string }>;
  deleteObject(bucket: string, key: string): Promise<void>;
  putObject(object: { bucket: string; key: string }): Promise<{ size: number; md5: string }>;
}

/**
 * Waits until `file` holds `size` bytes (bounded): s3rver's putObject resolves before its write stream has
 * flushed (for a Buffer body, right after end()), so a stat just after the answer could see fewer bytes
 * (an event announcing 0 bytes for a 10-byte object, then a read that can never match it).
 */
export async function flushed(file: string, size: number, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = await stat(file).then((s) => s.size, () => -1);
    if (now === size || Date.now() >= deadline) return;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

export interface S3rverBackend extends StorageBackend {
  readonly kind: "s3rver";
  readonly store: S3rverStore;
}

/** Removes the empty folders under `root` (not `root` itself), deepest first. Returns how many. */
export function sweepEmptyFolders(root: string, keep: (dir: string) => boolean = () => false): number {
  let removed = 0;
  const visit = (dir: string): boolean => {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return false;
    }
    let empty = true;
    for (const name of entries) {
      const child = path.join(dir, name);
      let isDir = false;
      try {
        isDir = statSync(child).isDirectory();
      } catch {
        continue;
      }
      if (!isDir || !visit(child)) empty = false;
    }
    if (empty && dir !== root && !keep(dir)) {
      rmdirSync(dir);
      removed++;
      return true;
    }
    return false;
  };
  visit(root);
  return removed;
}

/** Socket errors that mean the other end closed the connection, not that storage failed. */
const CLIENT_HUNG_UP = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED", "ERR_STREAM_PREMATURE_CLOSE"]);

export async function startS3rverBackend(options: { directory: string; buckets: readonly string[]; onProblem: (message: string) => void }): Promise<S3rverBackend> {
  const s3rver = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory: options.directory,
    configureBuckets: options.buckets.map((name) => ({ name })),
  });
  const store = s3rver.store as S3rverStore;
  // A bucket is a top-level folder: keep those even when empty.
  const isBucket = (dir: string) => path.dirname(dir) === path.resolve(options.directory);
  sweepEmptyFolders(path.resolve(options.directory), isBucket);
  const putObject = store.putObject.bind(store);
  store.putObject = async (object) => {
    const stored = await putObject(object);
    await flushed(store.getResourcePath(object.bucket, object.key, "object"), stored.size);
    return stored;
  };
  const putPart = store.putPart.bind(store);
  store.putPart = async (bucket, uploadId, partNumber, content) => {
    const stored = await putPart(bucket, uploadId, partNumber, content);
    // The same for a part: completing the upload concatenates the parts' files.
    await flushed(path.join(store.getResourcePath(bucket, undefined, "uploads"), uploadId, String(partNumber)), stored.size);
    return stored;
  };
  store.deleteObject = async (bucket: string, key: string) => {
    await Promise.all(
      ["object", "object.md5", "metadata.json"].map((resource) =>
        unlink(store.getResourcePath(bucket, key, resource)).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== "ENOENT") throw error;
        }),
      ),
    );
  };
  // s3rver reports every S3 error answer here too (a 404 for a missing key is normal): only report its own.
  // A client that hung up mid-answer (a reader that took only the bytes it needed) is not one either.
  s3rver.on("error", (error: Error & { status?: number; code?: string }) => {
    if (error.code !== undefined && CLIENT_HUNG_UP.has(error.code)) return;
    if (error.status === undefined || error.status >= 500) options.onProblem(`storage error: ${error.message}`);
  });
  const address = (await s3rver.run()) as AddressInfo;
  return {
    kind: "s3rver",
    url: `http://127.0.0.1:${address.port}`,
    versionedBuckets: new Set(),
    store,
    async stat(bucket: string, key: string): Promise<StoredObject | undefined> {
      try {
        const metadata = await store.getMetadata(bucket, key);
        return { size: Number(metadata["content-length"]), eTag: String(metadata.etag).replace(/"/g, "") };
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "ENOENT" || code === "ENOTDIR" || code === "ENAMETOOLONG") return undefined;
        throw error;
      }
    },
    async close() {
      await s3rver.close();
      sweepEmptyFolders(path.resolve(options.directory), isBucket);
    },
  };
}
