/**
 * An HTTP proxy between the function and an S3 API that injects one fault into the n-th call it relays:
 * a 500, a 503 SlowDown, a connection reset in the middle of the body, a body cut short, a stall, one
 * flipped byte of the body, or a lost response (the request reaches S3 and is executed, the answer never
 * comes back). Calls are counted in the order they arrive.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";

export const FAULTS = ["500", "slowdown", "reset", "cut", "stall", "flip", "lost"] as const;
export type Fault = (typeof FAULTS)[number];

export interface FaultProxy {
  readonly endpoint: string;
  /** Calls relayed so far. */
  calls: number;
  /** Faults actually injected so far. */
  injected: number;
  /** Fault to inject into call number `at` (0-based, counting from now). */
  arm(fault: Fault | undefined, at?: number): void;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  let armed: { fault: Fault; at: number } | undefined;
  const sockets = new Set<import("node:net").Socket>();
  const proxy: FaultProxy = {
    endpoint: "",
    calls: 0,
    injected: 0,
    arm(fault, at = 0) {
      armed = fault ? { fault, at: proxy.calls + at } : undefined;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };

  const server: Server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const n = proxy.calls++;
    const fault = armed && armed.at === n ? armed.fault : undefined;
    const body = Buffer.concat(await req.toArray());
    if (fault) proxy.injected++;
    if (fault === "500" || fault === "slowdown") {
      const [status, code] = fault === "500" ? [500, "InternalError"] : [503, "SlowDown"];
      res.writeHead(status, { "content-type": "application/xml" });
      res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected</Message><RequestId>fault</RequestId></Error>`);
      return;
    }
    const forwarded = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      async (answer) => {
        const data = Buffer.concat(await answer.toArray());
        if (fault === "lost") {
          req.socket.destroy();
          return;
        }
        const headers = { ...answer.headers };
        const half = Math.floor(data.length / 2);
        if (fault === "flip" && data.length > 0) {
          const copy = Buffer.from(data);
          copy[half] ^= 0x01;
          res.writeHead(answer.statusCode ?? 500, headers);
          res.end(copy);
          return;
        }
        if ((fault === "reset" || fault === "cut" || fault === "stall") && data.length > 1) {
          res.writeHead(answer.statusCode ?? 500, headers);
          res.write(data.subarray(0, half));
          if (fault === "reset") setTimeout(() => req.socket.destroy(), 5);
          if (fault === "cut") setTimeout(() => req.socket.end(), 5);
          // stall: never finish; the client's timeouts must give up.
          return;
        }
        if (fault === "flip" || fault === "reset" || fault === "cut" || fault === "stall") {
          // No body to damage (HEAD, PUT, DELETE): the connection dies instead, after S3 executed the request.
          req.socket.destroy();
          return;
        }
        res.writeHead(answer.statusCode ?? 500, headers);
        res.end(data);
      },
    );
    forwarded.on("error", () => req.socket.destroy());
    forwarded.end(body);
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  (proxy as { endpoint: string }).endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return proxy;
}
