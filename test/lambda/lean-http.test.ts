/**
 * The lean HTTP/1.1 handler (lambda/lean-http.ts): its parsing as pure functions, then against scripted
 * servers on loopback that answer byte by byte, lie about lengths, stall, close early, and speak TLS.
 */
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import * as tls from "node:tls";
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { HttpProtocolError, IntegrityError } from "../../lambda/errors";
import { createS3Client, S3ObjectReader, withIdleTimeout } from "../../lambda/s3-store";
import { bodyFraming, ChunkedDecoder, keepsAlive, LeanBody, LeanHttpHandler, MAX_HEAD_BYTES, MAX_IDLE_MS, MAX_INTERIM_RESPONSES, parseResponseHead, requestHead } from "../../lambda/lean-http";

// The self-signed certificate of loopback servers (tools/tls: localhost and 127.0.0.1, valid until 2126).
const TLS_DIR = path.join(__dirname, "../../tools/tls");
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const cert = readFileSync(path.join(TLS_DIR, "localhost.crt"));
const key = readFileSync(path.join(TLS_DIR, "localhost.key"));

describe("parsing a response's head", () => {
  it("reads the status, the reason and the headers, lower-cased, repeated ones joined", () => {
    const head = parseResponseHead("HTTP/1.1 206 Partial Content\r\nETag: \"abc\"\r\nX-Amz-Meta-A: 1\r\nx-amz-meta-a: 2\r\nContent-Length:  5 ");
    expect(head).toEqual({ statusCode: 206, reason: "Partial Content", minor: 1, headers: { etag: '"abc"', "x-amz-meta-a": "1, 2", "content-length": "5" } });
  });

  it("keeps the first of a repeated single-value header (ETag, Content-Type…) as Node's parser does, and refuses conflicting Content-Lengths", () => {
    const head = parseResponseHead('HTTP/1.1 200 OK\r\nETag: "a"\r\nETag: "b"\r\nContent-Length: 5\r\nContent-Length: 5\r\nVia: x\r\nVia: y');
    expect(head.headers).toEqual({ etag: '"a"', "content-length": "5", via: "x, y" });
    expect(() => parseResponseHead("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6")).toThrow(/conflicting Content-Length/);
  });

  it.each([
    ["not HTTP", "ICY 200 OK"],
    ["HTTP/2 framing", "HTTP/2 200"],
    ["a folded header", "HTTP/1.1 200 OK\r\nA: 1\r\n continued"],
    ["a name with a space", "HTTP/1.1 200 OK\r\nBad Name: 1"],
    ["a line without a colon", "HTTP/1.1 200 OK\r\njunk"],
  ])("refuses %s with an HttpProtocolError", (_what, text) => {
    expect(() => parseResponseHead(text)).toThrow(HttpProtocolError);
  });

  it("frames a body by method, status, Transfer-Encoding and Content-Length", () => {
    const head = (status: number, headers: Record<string, string> = {}) => ({ statusCode: status, reason: "", minor: 1, headers });
    expect(bodyFraming("HEAD", head(200, { "content-length": "9" }))).toEqual({ kind: "none" });
    expect(bodyFraming("GET", head(304))).toEqual({ kind: "none" });
    expect(bodyFraming("GET", head(200, { "transfer-encoding": "chunked", "content-length": "9" }))).toEqual({ kind: "chunked" });
    expect(bodyFraming("GET", head(200, { "content-length": "9, 9" }))).toEqual({ kind: "length", length: 9 });
    expect(bodyFraming("GET", head(200))).toEqual({ kind: "close" });
    expect(() => bodyFraming("GET", head(200, { "content-length": "9, 10" }))).toThrow(/invalid Content-Length/);
    expect(() => bodyFraming("GET", head(200, { "content-length": "-1" }))).toThrow(HttpProtocolError);
    expect(() => bodyFraming("GET", head(200, { "transfer-encoding": "gzip, chunked" }))).toThrow(/not supported/);
  });

  it("keeps HTTP/1.1 connections alive unless told to close, HTTP/1.0 ones only when told to", () => {
    const head = (minor: number, connection?: string) => ({ statusCode: 200, reason: "", minor, headers: (connection ? { connection } : {}) as Record<string, string> });
    const length = { kind: "length", length: 1 } as const;
    expect(keepsAlive(head(1), length)).toBe(true);
    expect(keepsAlive(head(1, "Close"), length)).toBe(false);
    expect(keepsAlive(head(0), length)).toBe(false);
    expect(keepsAlive(head(0, "keep-alive"), length)).toBe(true);
    expect(keepsAlive(head(1), { kind: "close" })).toBe(false);
  });
});

describe("decoding a chunked body", () => {
  const encoded = "5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nx-trailer: t\r\n\r\n";

  it("gives the same bytes fed at once or byte by byte, and stops at the body's end", () => {
    const whole: Buffer[] = [];
    const decoder = new ChunkedDecoder();
    const bytes = Buffer.from(`${encoded}NEXT`);
    expect(decoder.feed(bytes, (d) => whole.push(Buffer.from(d)))).toBe(encoded.length);
    expect(decoder.done).toBe(true);
    const single: Buffer[] = [];
    const byByte = new ChunkedDecoder();
    for (const byte of Buffer.from(encoded)) byByte.feed(Uint8Array.of(byte), (d) => single.push(Buffer.from(d)));
    expect(Buffer.concat(whole).toString()).toBe("hello 0123456789");
    expect(Buffer.concat(single).toString()).toBe("hello 0123456789");
  });

  it.each([
    ["a size that is not hex", "zz\r\n"],
    ["data not followed by CRLF", "2\r\nabX\r\n"],
    ["a bare LF", "2\nab"],
  ])("refuses %s", (_what, text) => {
    expect(() => new ChunkedDecoder().feed(Buffer.from(text), () => undefined)).toThrow(HttpProtocolError);
  });
});

describe("writing a request's head", () => {
  const request = { method: "GET", hostname: "s3.example", port: 9000, path: "/bucket/a%20b", query: { versionId: "v 1", partNumber: "2" }, headers: { "x-amz-date": "20261126T000000Z" } };

  it("sends the path, the query as the SDK encodes it, and a Host header", () => {
    expect(requestHead(request)).toBe("GET /bucket/a%20b?partNumber=2&versionId=v%201 HTTP/1.1\r\nhost: s3.example:9000\r\nx-amz-date: 20261126T000000Z\r\n\r\n");
  });

  it("refuses a CR or LF in a header value or a space in the path (a request split in two)", () => {
    expect(() => requestHead({ ...request, headers: { "if-match": '"a"\r\nx-injected: 1' } })).toThrow(TypeError);
    expect(() => requestHead({ ...request, path: "/bucket/a b" })).toThrow(TypeError);
  });

  it("sends only bodiless GETs and HEADs itself", () => {
    const base = { method: "GET", body: undefined, headers: {}, protocol: "https:" };
    expect(LeanHttpHandler.handles(base)).toBe(true);
    expect(LeanHttpHandler.handles({ ...base, method: "HEAD" })).toBe(true);
    expect(LeanHttpHandler.handles({ ...base, method: "PUT", body: "x" })).toBe(false);
    expect(LeanHttpHandler.handles({ ...base, body: "x" })).toBe(false);
    expect(LeanHttpHandler.handles({ ...base, headers: { Expect: "100-continue" } })).toBe(false);
  });
});

/** A TCP (or TLS) server that answers each request with `respond`, counting connections and requests. */
async function scripted(respond: (socket: net.Socket, request: string, index: number) => void, secure = false, host = "127.0.0.1") {
  const sockets = new Set<net.Socket>();
  let requests = 0;
  let connections = 0;
  const onConnection = (socket: net.Socket) => {
    connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    let buffered = "";
    socket.on("data", (data) => {
      buffered += data.toString("latin1");
      for (let end = buffered.indexOf("\r\n\r\n"); end >= 0; end = buffered.indexOf("\r\n\r\n")) {
        const request = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        respond(socket, request, requests++);
      }
    });
  };
  const server = secure ? tls.createServer({ cert, key }, onConnection) : net.createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as net.AddressInfo).port;
  const close = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  cleanups.push(close);
  return { port, stats: () => ({ requests, connections }), close };
}

const cleanups: Array<() => Promise<void> | void> = [];

/** Uncaught exceptions while it is installed, instead of vitest's handler (which would fail the run elsewhere). */
function catchUncaught() {
  const seen: unknown[] = [];
  const previous = process.listeners("uncaughtException");
  process.removeAllListeners("uncaughtException");
  const record = (error: unknown) => seen.push(error);
  process.on("uncaughtException", record);
  return {
    seen,
    restore() {
      process.off("uncaughtException", record);
      for (const listener of previous) process.on("uncaughtException", listener);
    },
  };
}
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function handler(options: ConstructorParameters<typeof LeanHttpHandler>[0] = {}) {
  const h = new LeanHttpHandler({ socketTimeout: 5_000, requestTimeout: 5_000, connectionTimeout: 2_000, ...options });
  cleanups.push(() => h.destroy());
  return h;
}

const get = (port: number, extra: Record<string, unknown> = {}) =>
  ({ method: "GET", protocol: "http:", hostname: "127.0.0.1", port, path: "/b/k", query: {}, headers: {}, ...extra }) as never;

async function readAll(body: unknown): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** Writes `bytes` in pieces of the given sizes (cycled), each in its own write and turn of the event loop. */
async function writeInPieces(socket: net.Socket, bytes: Buffer, sizes: number[]): Promise<void> {
  let offset = 0;
  for (let i = 0; offset < bytes.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length]);
    socket.write(bytes.subarray(offset, offset + n));
    offset += n;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe("the lean handler against a scripted server", () => {
  it("receives a body as a stream and into a buffer, the same bytes, over one kept-alive connection", async () => {
    const body = randomBytes(300_000);
    const server = await scripted((socket) => socket.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nETag: "e"\r\n\r\n`), body])));
    const h = handler();
    const first = await h.handle(get(server.port));
    expect(first.response.statusCode).toBe(200);
    expect(first.response.headers.etag).toBe('"e"');
    expect(sha256(await readAll(first.response.body))).toBe(sha256(body));
    const second = await h.handle(get(server.port));
    const target = new Uint8Array(body.length);
    const views = await readAll((second.response.body as LeanBody).into(target));
    expect(sha256(views)).toBe(sha256(body));
    expect(sha256(target)).toBe(sha256(body));
    expect(server.stats()).toEqual({ requests: 2, connections: 1 });
  });

  it("leaves no listener behind on a kept-alive connection, however many requests it carries", async () => {
    const server = await scripted((socket) => socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on("warning", onWarning);
    try {
      const h = handler();
      for (let i = 0; i < 30; i++) await readAll((await h.handle(get(server.port))).response.body);
      await new Promise((resolve) => setImmediate(resolve));
      expect(server.stats()).toEqual({ requests: 30, connections: 1 });
      expect(warnings.map((w) => w.message)).toEqual([]);
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("reads any response split anywhere: Content-Length or chunked, in pieces of any size", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 5000 }), fc.boolean(), fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 8 }), fc.boolean(), async (bytes, chunked, pieces, fill) => {
        const body = Buffer.from(bytes);
        const encoded = chunked
          ? Buffer.concat([Buffer.from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), ...splitChunks(body, pieces), Buffer.from("0\r\n\r\n")])
          : Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body]);
        const server = await scripted((socket) => void writeInPieces(socket, encoded, pieces));
        const h = handler();
        const { response } = await h.handle(get(server.port));
        const received = fill ? await readAll((response.body as LeanBody).into(new Uint8Array(body.length))) : await readAll(response.body);
        expect(received).toEqual(body);
        // The connection went back to the pool whole: a second request on it is answered too.
        expect(await readAll((await h.handle(get(server.port))).response.body)).toEqual(body);
        expect(server.stats().connections).toBe(1);
        await server.close();
        h.destroy();
      }),
      { numRuns: 40 },
    );
  });

  it("closes a pooled connection idle for MAX_IDLE_MS, or closed by the server, and opens a new one for the next request", async () => {
    const closedByServer: net.Socket[] = [];
    const server = await scripted((socket) => {
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      closedByServer.push(socket);
    });
    const h = handler();
    await readAll((await h.handle(get(server.port))).response.body);
    // The server closes the kept-alive connection while it is idle in the pool.
    closedByServer[0].end();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await readAll((await h.handle(get(server.port))).response.body);
    expect(server.stats()).toEqual({ requests: 2, connections: 2 });
    const idleSockets = () => [...(h as unknown as { idle: Map<string, unknown[]> }).idle.values()].flat().length;
    expect(idleSockets()).toBe(1);
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    try {
      // The third request reuses the pooled connection; released again, it is closed once idle too long.
      await readAll((await h.handle(get(server.port))).response.body);
      expect(idleSockets()).toBe(1);
      vi.advanceTimersByTime(MAX_IDLE_MS + 1);
    } finally {
      vi.useRealTimers();
    }
    expect(idleSockets()).toBe(0);
    expect(server.stats()).toEqual({ requests: 3, connections: 2 });
  });

  it.each([
    ["opens a new connection after a response that closes its own", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", "ok", true],
    ["reads a body framed by the connection's close to its end, and never reuses that connection", "HTTP/1.1 200 OK\r\n\r\nuntil the end", "until the end", true],
    ["reads a response followed by empty lines whole, as Node does, but does not reuse its connection", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok\r\n", "ok", false],
  ])("%s", async (_behaviour, answer, body, closes) => {
    const server = await scripted((socket) => (closes ? socket.end(answer) : socket.write(answer)));
    const h = handler();
    for (let i = 0; i < 2; i++) expect((await readAll((await h.handle(get(server.port))).response.body)).toString()).toBe(body);
    expect(server.stats().connections).toBe(2);
  });

  it("fails the body with a transient error naming the bytes received when the connection closes early", async () => {
    const server = await scripted((socket) => socket.end("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this"));
    const { response } = await handler().handle(get(server.port));
    await expect(readAll(response.body)).rejects.toMatchObject({ code: "ECONNRESET", message: expect.stringMatching(/after 9 of 100 bytes/) });
    const again = await handler().handle(get(server.port));
    await expect(readAll((again.response.body as LeanBody).into(new Uint8Array(100)))).rejects.toMatchObject({ code: "ECONNRESET" });
  });

  it("rejects with a transient error (retried by the SDK) when the connection closes before the headers", async () => {
    const server = await scripted((socket) => socket.end("HTTP/1.1 200 O"));
    await expect(handler().handle(get(server.port))).rejects.toMatchObject({ code: "ECONNRESET", message: expect.stringMatching(/before the response's headers/) });
    const refused = await scripted(() => undefined);
    await refused.close();
    await expect(handler().handle(get(refused.port))).rejects.toMatchObject({ code: "ECONNREFUSED" });
  });

  it("refuses a malformed response, headers longer than 64 KiB and a body longer than its Content-Length, and drops those connections", async () => {
    const answers = ["HTTP/1.1 OK\r\n\r\n", `HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(70_000)}\r\n\r\n`, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabc"];
    const server = await scripted((socket, _request, index) => socket.write(answers[index]));
    const h = handler();
    await expect(h.handle(get(server.port))).rejects.toThrow(/not an HTTP\/1.x status line/);
    await expect(h.handle(get(server.port))).rejects.toThrow(/longer than 65536 bytes/);
    await expect(h.handle(get(server.port)).then((r) => readAll(r.response.body))).rejects.toThrow(HttpProtocolError);
    expect(server.stats().connections).toBe(3);
  });

  it("does not pool a connection whose body's consumer destroyed it while its last piece was handed on", async () => {
    const server = await scripted((socket) => {
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n");
      setTimeout(() => socket.write("abcd"), 20);
    });
    const h = handler();
    const body = (await h.handle(get(server.port))).response.body as LeanBody;
    const next = await new Promise<{ read: Promise<Buffer> }>((resolve) => {
      body.on("error", () => undefined);
      body.on("data", () => {
        body.destroy();
        // The next request in the same turn: it must not get the destroyed connection.
        queueMicrotask(() => resolve({ read: h.handle(get(server.port)).then((r) => readAll(r.response.body)) }));
      });
    });
    expect((await next.read).toString()).toBe("abcd");
    expect(server.stats().connections).toBe(2);
  });

  it("refuses a body larger than the buffer it is received into", async () => {
    const server = await scripted((socket) => socket.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nsix!!!\r\n0\r\n\r\n"));
    const { response } = await handler().handle(get(server.port));
    await expect(readAll((response.body as LeanBody).into(new Uint8Array(4)))).rejects.toThrow(/longer than the 4 bytes expected/);
  });

  it("refuses more than MAX_INTERIM_RESPONSES interim responses, however many one read holds, with an HttpProtocolError", async () => {
    const server = await scripted((socket, _request, index) =>
      socket.write(`${"HTTP/1.1 100 Continue\r\n\r\n".repeat(index === 0 ? MAX_INTERIM_RESPONSES : 10_000)}HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`),
    );
    const h = handler();
    expect((await readAll((await h.handle(get(server.port))).response.body)).toString()).toBe("ok");
    await expect(h.handle(get(server.port))).rejects.toThrow(HttpProtocolError);
  });

  it("accepts a head of exactly MAX_HEAD_BYTES wherever the reads split it, its terminator included, and refuses one byte more", async () => {
    const headOf = (length: number) => {
      const start = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pad: ";
      return start + "a".repeat(length - start.length);
    };
    for (const [length, accepted] of [[MAX_HEAD_BYTES, true], [MAX_HEAD_BYTES + 1, false]] as const) {
      const text = Buffer.from(`${headOf(length)}\r\n\r\nok`);
      for (const cut of [0, MAX_HEAD_BYTES - 1, MAX_HEAD_BYTES, MAX_HEAD_BYTES + 1, MAX_HEAD_BYTES + 2, MAX_HEAD_BYTES + 3, MAX_HEAD_BYTES + 4]) {
        const server = await scripted((socket) => {
          socket.write(text.subarray(0, cut));
          setTimeout(() => socket.write(text.subarray(cut)), 15);
        });
        const answer = handler().handle(get(server.port)).then((r) => readAll(r.response.body));
        if (accepted) expect((await answer).toString(), `cut at ${cut}`).toBe("ok");
        else await expect(answer, `cut at ${cut}`).rejects.toThrow(/longer than/);
        await server.close();
      }
    }
  });

  it("skips an interim 100 Continue and answers the final response", async () => {
    const server = await scripted((socket) => socket.write("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope"));
    const { response } = await handler().handle(get(server.port));
    expect(response.statusCode).toBe(404);
    expect((await readAll(response.body)).toString()).toBe("nope");
  });

  it("answers a HEAD without reading a body, whatever its Content-Length says", async () => {
    const server = await scripted((socket) => socket.write("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"));
    const h = handler();
    const { response } = await h.handle(get(server.port, { method: "HEAD" }));
    expect(response.headers["content-length"]).toBe("1000");
    expect((await readAll(response.body)).length).toBe(0);
    await h.handle(get(server.port, { method: "HEAD" }));
    expect(server.stats().connections).toBe(1);
  });

  it("times out a connection that stalls mid-body, and a server that never answers", async () => {
    const stalls = await scripted((socket) => socket.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab"));
    const { response } = await handler({ socketTimeout: 200 }).handle(get(stalls.port));
    await expect(readAll(response.body)).rejects.toMatchObject({ name: "TimeoutError" });
    const silent = await scripted(() => undefined);
    await expect(handler({ requestTimeout: 200 }).handle(get(silent.port))).rejects.toMatchObject({ name: "TimeoutError", message: expect.stringMatching(/no response .* in 200 ms/) });
  });

  it("does not time out a response the reader holds back (a part waiting for a buffer), only a silent server", async () => {
    const server = await scripted((socket) => socket.write(Buffer.concat([Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 3000000\r\n\r\n"), Buffer.alloc(3_000_000, 7)])));
    const { response } = await handler({ socketTimeout: 100 }).handle(get(server.port));
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect((await readAll((response.body as LeanBody).into(new Uint8Array(3_000_000)))).length).toBe(3_000_000);
  });

  it("aborts: before the headers it rejects with an AbortError, during the body it fails the body", async () => {
    const silent = await scripted(() => undefined);
    const controller = new AbortController();
    const pending = handler().handle(get(silent.port), { abortSignal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
    const slow = await scripted((socket) => socket.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab"));
    const during = new AbortController();
    const { response } = await handler().handle(get(slow.port), { abortSignal: during.signal });
    const reading = readAll((response.body as LeanBody).into(new Uint8Array(10)));
    during.abort();
    await expect(reading).rejects.toMatchObject({ name: "AbortError" });
  });

  it("fails a stalled read of the function's reader with a retried error, never an uncaught exception (which ends Lambda's runtime)", async () => {
    for (const ranged of [false, true]) {
      // A fake S3 that sends a GET's headers, then nothing.
      const server = await scripted((socket, request) => {
        const range = /range: bytes=(\d+)-(\d+)/i.exec(request);
        const [from, to] = range ? [Number(range[1]), Number(range[2])] : [0, 999];
        const status = ranged && range ? `206 Partial Content\r\nContent-Range: bytes ${from}-${to}/100000` : "200 OK";
        socket.write(`HTTP/1.1 ${status}\r\nContent-Length: ${to - from + 1}\r\nETag: "abc"\r\nContent-Type: application/octet-stream\r\n\r\n`);
      });
      // The function's timeouts are equal (S3_TIMEOUTS.idle for the body and the connection), as here.
      const client = createS3Client({
        endpoint: `http://127.0.0.1:${server.port}`,
        region: "us-east-1",
        credentials: { accessKeyId: "x", secretAccessKey: "y" },
        forcePathStyle: true,
        maxAttempts: 1,
        requestHandler: new LeanHttpHandler({ connectionTimeout: 1000, requestTimeout: 1500, socketTimeout: 300 }),
      });
      cleanups.push(() => client.destroy());
      const uncaught = catchUncaught();
      try {
        const read = new S3ObjectReader(client, 300, { partSize: 40_000, concurrency: 2 }).read({ bucket: "b", key: "k", ...(ranged ? { expectedSize: 100_000 } : {}) });
        await expect(read).rejects.toBeInstanceOf(IntegrityError);
        await new Promise((resolve) => setTimeout(resolve, 100));
      } finally {
        uncaught.restore();
      }
      expect(uncaught.seen).toEqual([]);
    }
  });

  it("lets a consumer slower than the idle timeout finish a body that has arrived, with no uncaught exception", async () => {
    const data = randomBytes(100_000);
    const server = await scripted((socket) => socket.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${data.length}\r\n\r\n`), data])));
    const body = (await handler().handle(get(server.port))).response.body as LeanBody;
    const uncaught = catchUncaught();
    try {
      const read = (async () => {
        for await (const _ of withIdleTimeout(body, 100, "x", body.into(new Uint8Array(data.length)))) await new Promise((resolve) => setTimeout(resolve, 250));
      })();
      await read.catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      uncaught.restore();
    }
    expect(uncaught.seen).toEqual([]);
  });

  it("keeps the error of a body nobody reads until it is read (no unhandled error event)", async () => {
    const server = await scripted((socket) => socket.end("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nab"));
    const { response } = await handler().handle(get(server.port));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await expect(readAll(response.body)).rejects.toMatchObject({ code: "ECONNRESET" });
  });

  it("never reuses a connection on which the server sent bytes nobody asked for", async () => {
    const server = await scripted((socket) => {
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      setTimeout(() => socket.write("HTTP/1.1 200 OK\r\n\r\n"), 20);
    });
    const h = handler();
    await readAll((await h.handle(get(server.port))).response.body);
    await new Promise((resolve) => setTimeout(resolve, 80));
    await readAll((await h.handle(get(server.port))).response.body);
    expect(server.stats().connections).toBe(2);
  });

  it("speaks TLS with the certificate checked: trusted with its authority, refused without", async () => {
    const body = randomBytes(2 * 1024 * 1024);
    // On every address, so that 127.0.0.2 (not in the certificate) reaches it too.
    const server = await scripted((socket) => socket.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body])), true, "0.0.0.0");
    const request = get(server.port, { protocol: "https:", hostname: "localhost" });
    const { response } = await handler({ tls: { ca: cert } }).handle(request);
    const target = new Uint8Array(body.length);
    const hash = createHash("sha256");
    const views: number[] = [];
    for await (const view of (response.body as LeanBody).into(target)) {
      hash.update(view);
      views.push(view.length);
    }
    expect(hash.digest("hex")).toBe(sha256(body));
    // TLS delivers 16 KiB records; they are handed on gathered (fewer rounds through the consumer's loop),
    // each view but the last at least YIELD_BYTES unless YIELD_WAIT_MS passed between records.
    expect(views.length).toBeLessThan(body.length / (16 * 1024) / 2);
    await expect(handler().handle(request)).rejects.toMatchObject({ code: "DEPTH_ZERO_SELF_SIGNED_CERT" });
    await expect(handler({ tls: { ca: cert } }).handle(get(server.port, { protocol: "https:", hostname: "127.0.0.2" }))).rejects.toMatchObject({ code: "ERR_TLS_CERT_ALTNAME_INVALID" });
  });
});

/** `body` as chunks of a chunked encoding, of the given sizes (cycled). */
function splitChunks(body: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let offset = 0, i = 0; offset < body.length; i++) {
    const piece = body.subarray(offset, offset + sizes[i % sizes.length]);
    offset += piece.length;
    out.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from("\r\n"));
  }
  return out;
}
