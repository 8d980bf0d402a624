/** In-memory versions of the function's I/O (lambda/ports.ts), enforcing the same conditions S3 does. */
import { createHash } from "node:crypto";
import { digestPlanFor, type S3StoredChecksum } from "../../lambda/checksums";
import { ObjectGoneError, ObjectReplacedError } from "../../lambda/errors";
import { digestStream } from "../../lambda/hashing";
import type {
  DocumentStore,
  ObjectRead,
  ObjectReader,
  ObjectReadRequest,
  ServedObject,
  StoredDocument,
} from "../../lambda/ports";

export class MemoryDocumentStore implements DocumentStore {
  readonly docs = new Map<string, { text: string; etag: string }>();
  private counter = 0;
  /** Called before each conditional write: lets a test slip in a concurrent writer. */
  beforeConditionalWrite?: (key: string) => Promise<void> | void;
  writes = 0;

  async get<T>(key: string, parse: (text: string) => T): Promise<StoredDocument<T> | undefined> {
    const doc = this.docs.get(key);
    return doc ? { value: parse(doc.text), etag: doc.etag } : undefined;
  }

  async putIfAbsent(key: string, value: unknown): Promise<boolean> {
    await this.beforeConditionalWrite?.(key);
    if (this.docs.has(key)) return false;
    this.set(key, value);
    return true;
  }

  async putIfMatch(key: string, value: unknown, etag: string): Promise<boolean> {
    await this.beforeConditionalWrite?.(key);
    if (this.docs.get(key)?.etag !== etag) return false;
    this.set(key, value);
    return true;
  }

  async put(key: string, value: unknown): Promise<void> {
    this.set(key, value);
  }

  async delete(key: string): Promise<void> {
    this.docs.delete(key);
  }

  /** Writes as another process would, bypassing the hooks. */
  set(key: string, value: unknown): void {
    this.writes++;
    this.docs.set(key, { text: JSON.stringify(value), etag: `"etag-${++this.counter}"` });
  }

  json(key: string): any {
    const doc = this.docs.get(key);
    return doc ? JSON.parse(doc.text) : undefined;
  }

  keysUnder(prefix: string): string[] {
    return [...this.docs.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
}

/**
 * Objects by "bucket/key" or "bucket/key#version"; a read returns their checksums and the checksum "S3"
 * stored: by default none, or the one given to `add` (which a test may make wrong on purpose).
 */
export class MemoryObjectReader implements ObjectReader {
  readonly objects = new Map<string, { body: Buffer; eTag: string; stored: S3StoredChecksum }>();
  /** Versioned keys: their versions and delete markers, oldest first ("marker:<id>" for a marker). */
  readonly stacks = new Map<string, string[]>();
  readonly reads: ObjectReadRequest[] = [];
  failWith?: Error;
  /** Called before each read: lets a test damage the bytes of one read (return a different body). */
  corrupt?: (request: ObjectReadRequest, body: Buffer) => Buffer;

  add(bucket: string, key: string, body: string | Buffer, versionId?: string, stored: S3StoredChecksum = {}): { eTag: string; size: number } {
    const data = Buffer.from(body);
    const eTag = createHash("md5").update(data).digest("hex");
    this.objects.set(`${bucket}/${key}${versionId ? `#${versionId}` : ""}`, { body: data, eTag, stored });
    if (versionId) this.stacks.set(`${bucket}/${key}`, [...(this.stacks.get(`${bucket}/${key}`) ?? []), versionId]);
    return { eTag, size: data.length };
  }

  /** Deletes one version (or delete marker) for good, as DeleteObject with a VersionId does. */
  deleteVersion(bucket: string, key: string, versionId: string): void {
    this.objects.delete(`${bucket}/${key}#${versionId}`);
    this.stacks.set(`${bucket}/${key}`, (this.stacks.get(`${bucket}/${key}`) ?? []).filter((v) => v !== versionId && v !== `marker:${versionId}`));
  }

  /** Hides every version behind a new delete marker, as DeleteObject without a VersionId does in a versioned bucket. */
  addDeleteMarker(bucket: string, key: string, markerId: string): void {
    this.stacks.set(`${bucket}/${key}`, [...(this.stacks.get(`${bucket}/${key}`) ?? []), `marker:${markerId}`]);
  }

  async served(bucket: string, key: string): Promise<ServedObject> {
    const stack = this.stacks.get(`${bucket}/${key}`) ?? [];
    const top = stack[stack.length - 1];
    if (top === undefined) {
      const object = this.objects.get(`${bucket}/${key}`);
      return object ? { exists: true, eTag: object.eTag, size: object.body.length } : { exists: false };
    }
    if (top.startsWith("marker:")) return { exists: false, deleteMarker: true };
    const object = this.objects.get(`${bucket}/${key}#${top}`)!;
    return { exists: true, versionId: top, eTag: object.eTag, size: object.body.length };
  }

  async read(request: ObjectReadRequest): Promise<ObjectRead> {
    this.reads.push(request);
    if (this.failWith) throw this.failWith;
    const object = this.objects.get(`${request.bucket}/${request.key}${request.versionId ? `#${request.versionId}` : ""}`);
    if (!object) throw new ObjectGoneError(`s3://${request.bucket}/${request.key} no longer exists`);
    if (request.ifMatch !== undefined && request.ifMatch !== object.eTag) throw new ObjectReplacedError(`s3://${request.bucket}/${request.key} no longer has ETag ${request.ifMatch}`);
    const body = this.corrupt ? this.corrupt(request, object.body) : object.body;
    const { bytes: _bytes, ...computed } = await digestStream([body], digestPlanFor({ ...object.stored, size: object.body.length }));
    return {
      // The function's own one-pass digest, planned from what "S3" stored, as the S3 reader does.
      computed,
      size: body.length,
      eTag: object.eTag,
      versionId: request.versionId,
      contentType: "text/plain",
      lastModified: new Date("2026-11-24T10:00:00Z"),
      stored: object.stored,
    };
  }
}
