/** Running a bundled handler with its JSON log lines captured, as CloudWatch would receive them. */
import { vi } from "vitest";
import type { BundledHandler } from "../../tools/local/bundled-handler";

/**
 * Runs a handler on an event and returns its JSON log lines; they are also pushed into `lines` as they come,
 * so a caller keeps them when the handler throws.
 */
export async function invokeHandler(handler: BundledHandler, event: unknown, requestId: string, lines: any[] = []): Promise<any[]> {
  const capture = (chunk: unknown) => {
    for (const line of String(chunk).split("\n").filter(Boolean)) {
      try {
        lines.push(JSON.parse(line));
      } catch {
        // Not a log line of the handler (the SDK's Node version warning).
      }
    }
    return true;
  };
  vi.spyOn(process.stdout, "write").mockImplementation(capture as any);
  vi.spyOn(process.stderr, "write").mockImplementation(capture as any);
  try {
    await handler(event, { awsRequestId: requestId });
  } finally {
    vi.restoreAllMocks();
  }
  return lines;
}
