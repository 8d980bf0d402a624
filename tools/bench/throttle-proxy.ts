/**
 * A TCP proxy on loopback that limits every connection, separately, to `bytesPerSecond` from the server to
 * the client: a stand-in for S3, where one connection delivers about 85–90 MB/s however many run at once.
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";

export interface ThrottleProxy {
  readonly endpoint: string;
  close(): Promise<void>;
}

/** Pipes `from` into `to` at most at `rate` bytes/s, pausing `from` while ahead of schedule. */
function throttled(from: Socket, to: Socket, rate: number): void {
  const started = Date.now();
  let sent = 0;
  from.on("data", (chunk: Buffer) => {
    sent += chunk.length;
    to.write(chunk);
    const due = started + (sent / rate) * 1000;
    const wait = due - Date.now();
    if (wait > 1) {
      from.pause();
      setTimeout(() => from.resume(), wait);
    }
  });
  from.on("end", () => to.end());
}

export async function startThrottleProxy(upstream: string, bytesPerSecond: number): Promise<ThrottleProxy> {
  const target = new URL(upstream);
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const server = createConnection({ host: target.hostname, port: Number(target.port) });
    for (const s of [client, server]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        server.destroy();
      });
    }
    client.pipe(server);
    throttled(server, client, bytesPerSecond);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
