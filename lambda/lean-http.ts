/**
 * A lean HTTP/1.1 request handler for the S3 client: its bodiless requests (GET, HEAD) are sent over
 * pooled keep-alive connections whose bytes are received into one buffer per connection (Node's `onread`),
 * and a response body can be copied straight into a buffer of the caller's (`LeanBody.into`). Every other
 * request (one with a body: the index's writes) goes to the SDK's own NodeHttpHandler.
 *
 * Why: reading is the function's main cost, and it is bound by CPU below about one vCPU. Measured on the
 * development machine, receiving a 512 MiB body cost 1.9–2.7 ms of CPU per MiB through the SDK's handler
 * (node:http: a parser, a stream and a fresh Buffer per socket read, and the garbage they leave) and
 * 0.3 ms into one reused buffer; over TLS 1.2–2.0 against 0.5–0.6. SHA-256 itself costs about 0.6.
 *
 * What it does not do, and where that goes: requests with a body, `Expect: 100-continue` and HTTP/2 (the
 * SDK's handler); proxies (neither handler reads HTTPS_PROXY); response content codings (none is asked for:
 * a response that uses one is refused). A response it cannot parse fails the call with a clear error and
 * the connection is closed, never reused.
 */
import * as https from "node:https";
import * as net from "node:net";
import { Readable } from "node:stream";
import * as tls from "node:tls";
import { buildQueryString } from "@smithy/core/protocols";
import { NodeHttpHandler, type NodeHttpHandlerOptions } from "@smithy/node-http-handler";
import type { HttpHandlerOptions, HttpRequest, HttpResponse } from "@smithy/types";
import { HttpProtocolError } from "./errors";

/**
 * Bytes one connection receives into at a time. TLS hands on one record (16 KiB at most) per read whatever
 * the size; over plain TCP larger reads cost little less, and the first read after a response's head is
 * copied once while its body waits for a consumer, so the buffer stays small.
 */
export const RECEIVE_BUFFER_BYTES = 256 * 1024;
/** A response's status line and headers may take this many bytes at most. */
export const MAX_HEAD_BYTES = 64 * 1024;
/** `LeanBody.into` yields at least this many bytes at a time, unless the body ended or YIELD_WAIT_MS passed. */
export const YIELD_BYTES = 256 * 1024;
/** …and holds received bytes back at most this long (measured when the next piece arrives). */
export const YIELD_WAIT_MS = 20;
/** Interim (1xx) responses one request may receive before its final one (real servers send one or two). */
export const MAX_INTERIM_RESPONSES = 32;
/** A pooled connection idle longer is closed rather than reused (servers close idle connections; a frozen Lambda sleeps through it). */
export const MAX_IDLE_MS = 4_000;

export interface LeanHttpOptions {
  /** ms to open a connection (TCP and TLS). */
  readonly connectionTimeout?: number;
  /** ms from the request sent to the response's headers received. */
  readonly requestTimeout?: number;
  /** ms a connection may stay silent while a response is awaited or received. */
  readonly socketTimeout?: number;
  /** Extra TLS options (tests: a certificate authority of their own). */
  readonly tls?: tls.ConnectionOptions;
}

/** An error with a Node network code, which the SDK's retry classifies as transient (ECONNRESET). */
function connectionError(message: string, code = "ECONNRESET", cause?: unknown): Error {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { code });
}

function timeoutError(message: string): Error {
  return Object.assign(new Error(message), { name: "TimeoutError", code: "ETIMEDOUT" });
}

function abortError(signal: { reason?: unknown }): Error {
  const reason = signal.reason;
  return Object.assign(new Error(reason instanceof Error ? "Request aborted" : String(reason ?? "Request aborted"), reason instanceof Error ? { cause: reason } : undefined), { name: "AbortError" });
}

/** A parsed status line and headers. */
export interface ResponseHead {
  readonly statusCode: number;
  readonly reason: string;
  /** HTTP/1.0 or 1.1's minor version. */
  readonly minor: number;
  /** Lower-case names; repeated headers joined with ", ", as Node does, but for SINGLE_VALUE_HEADERS (the first kept). */
  readonly headers: Record<string, string>;
}

/** Headers of which Node's HTTP parser keeps the first and drops repeats (the SDK's handler sees that). */
const SINGLE_VALUE_HEADERS = new Set([
  "age",
  "authorization",
  "content-type",
  "etag",
  "expires",
  "from",
  "host",
  "if-modified-since",
  "if-unmodified-since",
  "last-modified",
  "location",
  "max-forwards",
  "proxy-authorization",
  "referer",
  "retry-after",
  "server",
  "user-agent",
]);

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The status line and headers of `text` (everything before the blank line, without it). Pure; throws HttpProtocolError. */
export function parseResponseHead(text: string): ResponseHead {
  const lines = text.split("\r\n");
  const status = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(lines[0]);
  if (!status) throw new HttpProtocolError(`not an HTTP/1.x status line: ${JSON.stringify(lines[0].slice(0, 80))}`);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon) : "";
    // A folded line (leading whitespace) or a name with spaces is refused, as RFC 9112 asks of a client that does not fold.
    if (!TOKEN.test(name)) throw new HttpProtocolError(`malformed header line: ${JSON.stringify(line.slice(0, 80))}`);
    const value = line.slice(colon + 1).trim();
    if (/[\0\r\n]/.test(value)) throw new HttpProtocolError(`header ${name} holds a control character`);
    const key = name.toLowerCase();
    if (!(key in headers)) headers[key] = value;
    else if (key === "content-length") {
      // Differing lengths are an attack or a bug (RFC 9112 §6.3); repeated identical ones are one.
      if (headers[key] !== value) throw new HttpProtocolError(`conflicting Content-Length headers: ${headers[key]}, ${value}`);
    } else if (!SINGLE_VALUE_HEADERS.has(key)) headers[key] = `${headers[key]}, ${value}`;
  }
  return { statusCode: Number(status[2]), reason: status[3] ?? "", minor: Number(status[1]), headers };
}

/** How a response's body ends (RFC 9112 §6.3). */
export type BodyFraming = { readonly kind: "none" } | { readonly kind: "length"; readonly length: number } | { readonly kind: "chunked" } | { readonly kind: "close" };

/** The framing of the body that follows `head`, answering a `method` request. Pure; throws HttpProtocolError. */
export function bodyFraming(method: string, head: ResponseHead): BodyFraming {
  if (method === "HEAD" || head.statusCode === 204 || head.statusCode === 304 || (head.statusCode >= 100 && head.statusCode < 200)) return { kind: "none" };
  const coding = head.headers["transfer-encoding"];
  if (coding !== undefined) {
    if (coding.toLowerCase() !== "chunked") throw new HttpProtocolError(`Transfer-Encoding ${coding} is not supported (only chunked)`);
    return { kind: "chunked" };
  }
  const length = head.headers["content-length"];
  if (length !== undefined) {
    // Repeated identical values are allowed (RFC 9110 §8.6); differing ones are an attack or a bug.
    const values = new Set(length.split(",").map((v) => v.trim()));
    const [value] = values;
    if (values.size !== 1 || !/^\d{1,16}$/.test(value) || !Number.isSafeInteger(Number(value))) throw new HttpProtocolError(`invalid Content-Length ${JSON.stringify(length)}`);
    return { kind: "length", length: Number(value) };
  }
  return { kind: "close" };
}

/** Whether the connection may carry another request after this response. Pure. */
export function keepsAlive(head: ResponseHead, framing: BodyFraming): boolean {
  if (framing.kind === "close") return false;
  const tokens = (head.headers.connection ?? "").toLowerCase().split(",").map((t) => t.trim());
  return head.minor === 1 ? !tokens.includes("close") : tokens.includes("keep-alive");
}

/**
 * Decodes a chunked body (RFC 9112 §7.1) fed in pieces of any size: `feed` hands on the data (views into
 * the piece fed) and returns how many bytes of the piece it used, all of them until the last chunk and its
 * trailers ended the body (`done`). Chunk extensions and trailers are read and dropped.
 */
export class ChunkedDecoder {
  done = false;
  private state: "size" | "data" | "data-crlf" | "trailer" = "size";
  private line = "";
  private left = 0;

  feed(piece: Uint8Array, deliver: (data: Uint8Array) => void): number {
    let i = 0;
    while (i < piece.length && !this.done) {
      if (this.state === "data") {
        const n = Math.min(this.left, piece.length - i);
        deliver(piece.subarray(i, i + n));
        i += n;
        this.left -= n;
        if (this.left === 0) this.state = "data-crlf";
        continue;
      }
      const byte = piece[i++];
      if (byte !== 0x0a) {
        this.line += String.fromCharCode(byte);
        if (this.line.length > 4096) throw new HttpProtocolError("a chunked body's line is longer than 4096 bytes");
        continue;
      }
      if (!this.line.endsWith("\r")) throw new HttpProtocolError("a chunked body's line does not end with CRLF");
      const line = this.line.slice(0, -1);
      this.line = "";
      if (this.state === "data-crlf") {
        if (line !== "") throw new HttpProtocolError("a chunk's data is not followed by CRLF");
        this.state = "size";
      } else if (this.state === "size") {
        const size = /^([0-9A-Fa-f]{1,13})[ \t]*(;.*)?$/.exec(line);
        if (!size) throw new HttpProtocolError(`invalid chunk size line ${JSON.stringify(line.slice(0, 40))}`);
        this.left = parseInt(size[1], 16);
        this.state = this.left === 0 ? "trailer" : "data";
      } else if (line === "") {
        this.done = true;
      }
    }
    return i;
  }
}

type Sink = (data: Uint8Array) => boolean;

/**
 * A response body. As a Readable (how the SDK and every other consumer read it) each piece received is
 * copied into a Buffer of its own. `into(target)` instead copies the body straight into `target` and yields
 * views of it as it fills: one copy, no allocation per read, the views the caller's to keep.
 */
export class LeanBody extends Readable {
  private mode: "undecided" | "stream" | "fill" = "undecided";
  /** Pieces received before the consumer chose how to read (copied: the receive buffer is reused). */
  private early: Buffer[] = [];
  private target: Uint8Array | undefined;
  private filled = 0;
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly resumeSource: () => void,
    private readonly abortSource: (error: Error) => void,
  ) {
    super();
  }

  /** The exchange's sink: takes one piece of the body (valid only during the call); false asks to pause. */
  readonly accept: Sink = (data) => {
    if (this.mode === "stream") return this.push(Buffer.from(data));
    if (this.mode === "fill") {
      const target = this.target!;
      if (this.filled + data.length > target.length) {
        // Even a body that already ended (received before `into` was called) fails here.
        const error = new HttpProtocolError(`the body is longer than the ${target.length} bytes expected`);
        this.failure ??= error;
        this.abortSource(error);
        this.notify();
        return false;
      }
      target.set(data, this.filled);
      this.filled += data.length;
      this.notify();
      return true;
    }
    this.early.push(Buffer.from(data));
    return false;
  };

  /** The exchange's end: the whole body was received. */
  received(): void {
    if (this.ended || this.failure) return;
    this.ended = true;
    if (this.mode === "stream") this.push(null);
    this.notify();
  }

  /** The exchange failed: the body ends with `error`. */
  fail(error: Error): void {
    if (this.failure || this.ended) return;
    this.failure = error;
    if (this.mode === "fill") this.abortSource(error);
    this.notify();
    // A body nobody reads yet keeps its error until it is read: emitted now, it would have no listener.
    if (this.mode === "stream") this.destroy(error);
  }

  override _read(): void {
    if (this.mode === "fill") return;
    if (this.mode === "undecided") {
      this.mode = "stream";
      if (this.failure) {
        this.destroy(this.failure);
        return;
      }
      for (const piece of this.early.splice(0)) this.push(piece);
      if (this.ended) {
        this.push(null);
        return;
      }
    }
    this.resumeSource();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.ended) {
      const reason = error ?? Object.assign(new Error("the response body was destroyed before its end"), { name: "AbortError" });
      this.failure ??= reason;
      this.abortSource(reason);
      this.notify();
    }
    callback(error);
  }

  /**
   * Copies the body into `target` and yields each newly filled stretch of it, in order, until the body
   * ended; throws if it fails or holds more than `target` takes. Returning early destroys the body.
   */
  async *into(target: Uint8Array): AsyncGenerator<Uint8Array> {
    if (this.mode !== "undecided") throw new Error("the body is already being read");
    this.mode = "fill";
    this.target = target;
    // Errors reach the reader through this generator (`failure`): one passed to destroy() (an idle timer's)
    // must not also be emitted as an 'error' event that nobody listens to, an uncaught exception.
    this.on("error", () => undefined);
    for (const piece of this.early.splice(0)) if (!this.accept(piece)) break;
    let given = 0;
    let lastYield = performance.now();
    try {
      if (!this.ended && !this.failure) this.resumeSource();
      for (;;) {
        if (this.failure) throw this.failure;
        // Gathered into views of YIELD_BYTES (TLS hands on 16 KiB records: 64 per MiB, each a round through
        // the consumer's loop), sooner at the body's end or once YIELD_WAIT_MS passed since the last one.
        const ready = this.filled - given;
        if (ready > 0 && (this.ended || ready >= YIELD_BYTES || performance.now() - lastYield >= YIELD_WAIT_MS)) {
          const view = target.subarray(given, this.filled);
          given = this.filled;
          lastYield = performance.now();
          yield view;
          continue;
        }
        if (this.ended) return;
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      if (!this.ended) this.destroy();
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** A connection of the pool: its socket, receiving into its own buffer, and the exchange using it, if any. */
class Connection {
  readonly socket: net.Socket;
  exchange: Exchange | undefined;
  idleSince = 0;
  closed = false;
  /** Takes the connection out of its idle state (set while it is pooled). */
  reuse: () => void = () => undefined;

  constructor(
    readonly origin: string,
    protocol: string,
    host: string,
    port: number,
    tlsOptions: tls.ConnectionOptions | undefined,
  ) {
    const onread = { buffer: Buffer.allocUnsafe(RECEIVE_BUFFER_BYTES), callback: (n: number, buffer: Uint8Array) => this.receive(buffer.subarray(0, n)) };
    this.socket =
      protocol === "https:"
        ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ALPNProtocols: ["http/1.1"], ...tlsOptions, onread } as tls.ConnectionOptions)
        : net.connect({ host, port, onread } as net.NetConnectOpts);
    this.socket.setNoDelay(true);
    this.socket.on("error", (error) => this.close(error));
    this.socket.on("end", () => this.close());
    this.socket.on("close", () => this.close());
  }

  private receive(data: Uint8Array): boolean {
    if (!this.exchange) {
      // Bytes nobody asked for: the connection cannot be trusted with another request.
      this.socket.destroy();
      return false;
    }
    return this.exchange.receive(data);
  }

  close(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.exchange?.connectionClosed(error);
  }
}

/** One request and its response on a connection. */
class Exchange {
  private headBytes: Buffer[] = [];
  private headLength = 0;
  private framing: BodyFraming | undefined;
  private head: ResponseHead | undefined;
  private received = 0;
  private chunked: ChunkedDecoder | undefined;
  private body: LeanBody | undefined;
  private finished = false;
  /** Empty lines followed the response: it is whole, but the connection is not reused. */
  private tainted = false;
  /** Interim (1xx) responses received so far. */
  private interim = 0;

  constructor(
    private readonly connection: Connection,
    /** The silence timeout: measured only while the exchange wants bytes, not while it holds them back. */
    private readonly idle: { arm(): void; disarm(): void },
    private readonly method: string,
    private readonly onHead: (head: ResponseHead, body: LeanBody) => void,
    private readonly onError: (error: Error) => void,
    private readonly onDone: (reusable: boolean) => void,
  ) {}

  receive(data: Uint8Array): boolean {
    try {
      if (this.finished) throw new HttpProtocolError("bytes after the end of the response");
      const more = this.body === undefined ? this.receiveHead(data) : this.receiveBody(data);
      // A finished exchange leaves the connection to the pool, which must go on receiving.
      if (this.finished) return true;
      // Paused until the consumer asks for more: a server that cannot send meanwhile is not silent.
      if (!more) this.idle.disarm();
      return more;
    } catch (error) {
      this.fail(error as Error);
      return false;
    }
  }

  private receiveHead(data: Uint8Array): boolean {
    // The head is searched where it arrived; only a head split over reads is kept, copied (the receive
    // buffer is reused by the next read), and it is small. The body's bytes after it are not copied here.
    let bytes = Buffer.from(data.buffer, data.byteOffset, data.length);
    let head: ResponseHead;
    // Interim responses (100 Continue, 103 Early Hints) come before the final one, in the same read or not.
    for (;;) {
      const kept = this.headLength === 0 ? undefined : Buffer.concat(this.headBytes);
      // A head split over reads ends within MAX_HEAD_BYTES of its start: more of `bytes` is never searched.
      const all = kept ? Buffer.concat([kept, bytes.subarray(0, MAX_HEAD_BYTES + 4)]) : bytes;
      const end = all.indexOf("\r\n\r\n");
      if (end < 0) {
        // Up to 3 bytes may be the start of the terminator, which is not the head's.
        if (this.headLength + bytes.length > MAX_HEAD_BYTES + 3) throw new HttpProtocolError(`the response's headers are longer than ${MAX_HEAD_BYTES} bytes`);
        this.headBytes.push(Buffer.from(bytes));
        this.headLength += bytes.length;
        return true;
      }
      if (end > MAX_HEAD_BYTES) throw new HttpProtocolError(`the response's headers are longer than ${MAX_HEAD_BYTES} bytes`);
      head = parseResponseHead(all.toString("latin1", 0, end));
      // What follows the head, as a view of `bytes` (the terminator ends within it: the kept part had none).
      bytes = bytes.subarray(end + 4 - (kept?.length ?? 0));
      this.headBytes = [];
      this.headLength = 0;
      if (head.statusCode >= 200) break;
      if (++this.interim > MAX_INTERIM_RESPONSES) throw new HttpProtocolError(`more than ${MAX_INTERIM_RESPONSES} interim (1xx) responses`);
      if (bytes.length === 0) return true;
    }
    const rest = bytes;
    this.head = head;
    this.framing = bodyFraming(this.method, head);
    if (this.framing.kind === "chunked") this.chunked = new ChunkedDecoder();
    this.body = new LeanBody(
      () => {
        this.idle.arm();
        this.connection.socket.resume();
      },
      (error) => this.abort(error),
    );
    this.onHead(head, this.body);
    if (this.framing.kind === "none" || (this.framing.kind === "length" && this.framing.length === 0)) {
      this.afterBody(rest, "a response without a body");
      this.complete();
      return true;
    }
    if (rest.length > 0) this.receiveBody(rest);
    // Nothing more is received until the consumer chose how to read the body.
    return false;
  }

  private receiveBody(data: Uint8Array): boolean {
    const framing = this.framing!;
    const body = this.body!;
    if (framing.kind === "length") {
      const wanted = framing.length - this.received;
      if (data.length > wanted) {
        this.afterBody(data.subarray(wanted), `the ${framing.length} bytes of Content-Length`);
        data = data.subarray(0, wanted);
      }
      this.received += data.length;
      const more = body.accept(data);
      if (this.received === framing.length) this.complete();
      return more;
    }
    if (framing.kind === "chunked") {
      let more = true;
      const used = this.chunked!.feed(data, (piece) => {
        this.received += piece.length;
        more = body.accept(piece) && more;
      });
      if (this.chunked!.done) {
        this.afterBody(data.subarray(used), "the end of a chunked body");
        this.complete();
      }
      return more;
    }
    this.received += data.length;
    return body.accept(data);
  }

  /**
   * Bytes that came after the response's end, in the same read. Empty lines are tolerated, as Node's
   * parser tolerates them (RFC 9112 §2.2), but the connection is not reused; anything else means client
   * and server disagree on where the body ends, and fails the response.
   */
  private afterBody(extra: Uint8Array, end: string): void {
    if (extra.length === 0) return;
    if (!extra.every((byte) => byte === 0x0d || byte === 0x0a)) throw new HttpProtocolError(`bytes after ${end}`);
    this.tainted = true;
  }

  private complete(): void {
    // A consumer may have given up on the body while its last piece was handed on (the exchange is then over).
    if (this.finished) return;
    this.finished = true;
    const reusable = keepsAlive(this.head!, this.framing!) && !this.tainted;
    this.body!.received();
    this.onDone(reusable);
  }

  /** The connection ended (cleanly or not). A body read to the close ends there; anything else failed. */
  connectionClosed(error?: Error): void {
    if (this.finished) return;
    if (!error && this.framing?.kind === "close") {
      this.finished = true;
      this.body!.received();
      this.onDone(false);
      return;
    }
    const expected = this.framing?.kind === "length" ? ` of ${this.framing.length}` : "";
    const message =
      this.body === undefined
        ? `the connection closed before the response's headers${error ? `: ${error.message}` : ""}`
        : `the connection closed after ${this.received}${expected} bytes of the body${error ? `: ${error.message}` : ""}`;
    this.fail(connectionError(message, (error as { code?: string } | undefined)?.code ?? "ECONNRESET", error));
  }

  /** The consumer gave up on the body (or it failed): the connection cannot be reused. */
  abort(error: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.onError(error);
    this.connection.socket.destroy();
  }

  /** Ends the exchange with `error` (a timeout, an abort, a broken response), closing the connection. */
  fail(error: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.connection.socket.destroy();
    if (this.body) this.body.fail(error);
    this.onError(error);
  }
}

/** A header value as sent: visible ASCII, spaces, tabs and obs-text, never CR, LF or NUL. */
const HEADER_SAFE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** The request's first line and headers, as sent. Pure; throws on a character that would split the request. */
export function requestHead(request: Pick<HttpRequest, "method" | "path" | "query" | "fragment" | "headers" | "hostname" | "port">): string {
  const query = request.query ? buildQueryString(request.query) : "";
  const target = `${request.path}${query ? `?${query}` : ""}`;
  if (!/^[\x21-\x7e]+$/.test(target)) throw new TypeError(`the request target ${JSON.stringify(target.slice(0, 80))} holds a character HTTP does not allow`);
  if (!TOKEN.test(request.method)) throw new TypeError(`invalid method ${JSON.stringify(request.method)}`);
  const lines = [`${request.method} ${target} HTTP/1.1`];
  const names = new Set(Object.keys(request.headers).map((n) => n.toLowerCase()));
  if (!names.has("host")) lines.push(`host: ${request.hostname}${request.port ? `:${request.port}` : ""}`);
  for (const [name, value] of Object.entries(request.headers)) {
    if (!TOKEN.test(name) || !HEADER_SAFE.test(String(value))) throw new TypeError(`header ${JSON.stringify(name)} holds a character HTTP does not allow`);
    lines.push(`${name}: ${value}`);
  }
  return `${lines.join("\r\n")}\r\n\r\n`;
}

/**
 * The SDK's HttpHandler (structurally): bodiless GETs and HEADs here, the rest to `fallback`.
 */
export class LeanHttpHandler {
  readonly metadata = { handlerProtocol: "http/1.1" };
  private readonly idle = new Map<string, Connection[]>();
  private readonly fallback: NodeHttpHandler;

  constructor(private readonly options: LeanHttpOptions = {}) {
    // What this handler does not send goes to the SDK's own, with the same timeouts.
    this.fallback = new NodeHttpHandler({
      connectionTimeout: options.connectionTimeout,
      requestTimeout: options.requestTimeout,
      socketTimeout: options.socketTimeout,
      throwOnRequestTimeout: true,
      // The same TLS options (a test server's authority) for what the fallback sends; else the SDK's agent.
      ...(options.tls ? { httpsAgent: new https.Agent({ keepAlive: true, maxSockets: 50, ...options.tls }) } : {}),
    } as NodeHttpHandlerOptions);
  }

  /** Whether this handler sends `request` itself (else the fallback does). Pure. */
  static handles(request: Pick<HttpRequest, "method" | "body" | "headers" | "protocol">): boolean {
    const hasBody = request.body !== undefined && request.body !== null && !(typeof request.body === "string" && request.body === "");
    const expect = Object.entries(request.headers).some(([n]) => n.toLowerCase() === "expect" || n.toLowerCase() === "transfer-encoding");
    return (request.method === "GET" || request.method === "HEAD") && !hasBody && !expect && (request.protocol === "http:" || request.protocol === "https:");
  }

  async handle(request: HttpRequest, handlerOptions: HttpHandlerOptions = {}): Promise<{ response: HttpResponse }> {
    if (!LeanHttpHandler.handles(request)) return this.fallback.handle(request as Parameters<NodeHttpHandler["handle"]>[0], handlerOptions);
    const signal = handlerOptions.abortSignal as (AbortSignal & { reason?: unknown }) | undefined;
    if (signal?.aborted) throw abortError(signal);
    const head = requestHead(request);
    const host = request.hostname.startsWith("[") && request.hostname.endsWith("]") ? request.hostname.slice(1, -1) : request.hostname;
    const port = request.port ?? (request.protocol === "https:" ? 443 : 80);
    const origin = `${request.protocol}//${host}:${port}`;
    const connection = this.acquire(origin, request.protocol, host, port);
    const requestTimeout = handlerOptions.requestTimeout ?? this.options.requestTimeout;

    return new Promise((resolve, reject) => {
      const timers: NodeJS.Timeout[] = [];
      let answered = false;
      const socketTimeout = this.options.socketTimeout;
      const onAbort = () => exchange.fail(abortError(signal!));
      const onSilence = () => exchange.fail(timeoutError(`the connection to ${origin} was silent for ${socketTimeout} ms`));
      const idle = { arm: () => void (socketTimeout && connection.socket.setTimeout(socketTimeout)), disarm: () => void connection.socket.setTimeout(0) };
      const cleanup = () => {
        for (const timer of timers) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        connection.socket.off("timeout", onSilence);
        idle.disarm();
      };
      const exchange = new Exchange(
        connection,
        idle,
        request.method,
        (responseHead, body) => {
          answered = true;
          for (const timer of timers.splice(0)) clearTimeout(timer);
          resolve({ response: { statusCode: responseHead.statusCode, reason: responseHead.reason, headers: responseHead.headers, body } as HttpResponse });
        },
        (error) => {
          cleanup();
          connection.exchange = undefined;
          if (!answered) reject(error);
        },
        (reusable) => {
          cleanup();
          connection.exchange = undefined;
          if (reusable && !connection.closed) this.release(connection);
          else connection.close();
        },
      );
      connection.exchange = exchange;
      signal?.addEventListener("abort", onAbort, { once: true });
      connection.socket.on("timeout", onSilence);
      idle.arm();
      if (this.options.connectionTimeout && connection.socket.connecting) {
        const timer = setTimeout(() => exchange.fail(timeoutError(`connecting to ${origin} took more than ${this.options.connectionTimeout} ms`)), this.options.connectionTimeout);
        timers.push(timer);
        connection.socket.once(request.protocol === "https:" ? "secureConnect" : "connect", () => clearTimeout(timer));
      }
      if (requestTimeout) timers.push(setTimeout(() => exchange.fail(timeoutError(`no response from ${origin} in ${requestTimeout} ms`)), requestTimeout));
      connection.socket.write(head, "latin1");
    });
  }

  private acquire(origin: string, protocol: string, host: string, port: number): Connection {
    const pool = this.idle.get(origin) ?? [];
    const now = Date.now();
    for (let connection = pool.pop(); connection; connection = pool.pop()) {
      connection.reuse();
      if (!connection.closed && now - connection.idleSince <= MAX_IDLE_MS) {
        connection.socket.ref();
        return connection;
      }
      connection.close();
    }
    return new Connection(origin, protocol, host, port, this.options.tls);
  }

  private release(connection: Connection): void {
    connection.idleSince = Date.now();
    // Idle, it must not keep the process alive.
    connection.socket.unref();
    const pool = this.idle.get(connection.origin) ?? [];
    pool.push(connection);
    this.idle.set(connection.origin, pool);
    // Closed, and its receive buffer freed, once idle too long or closed by the server, whether or not
    // another request comes (a frozen Lambda runs the timer when it thaws; acquire checks the age too).
    const leave = () => {
      clearTimeout(timer);
      const at = pool.indexOf(connection);
      if (at >= 0) pool.splice(at, 1);
      connection.close();
    };
    const timer = setTimeout(leave, MAX_IDLE_MS).unref();
    connection.socket.once("close", leave);
    connection.reuse = () => {
      clearTimeout(timer);
      connection.socket.off("close", leave);
    };
  }

  updateHttpClientConfig(key: never, value: never): void {
    this.fallback.updateHttpClientConfig(key, value);
  }

  httpHandlerConfigs(): Record<string, unknown> {
    return this.fallback.httpHandlerConfigs() as Record<string, unknown>;
  }

  destroy(): void {
    for (const pool of this.idle.values()) for (const connection of pool) connection.close();
    this.idle.clear();
    this.fallback.destroy();
  }
}
