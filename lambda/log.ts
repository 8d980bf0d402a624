/**
 * Structured logs: one JSON object per line. In Lambda with the JSON log format (AWS_LAMBDA_LOG_FORMAT),
 * objects go through console so that Lambda adds its timestamp, level and request id; elsewhere, one
 * JSON line on stdout/stderr.
 */
export type Level = "debug" | "info" | "warn" | "error";

export interface Logger {
  log(level: Level, message: string, fields?: Record<string, unknown>): void;
}

export function createLogger(env: NodeJS.ProcessEnv = process.env): Logger {
  const lambdaJson = env.AWS_LAMBDA_LOG_FORMAT === "JSON";
  return {
    log(level, message, fields = {}) {
      const entry = { message, ...fields };
      if (lambdaJson) {
        console[level](entry);
      } else {
        const line = JSON.stringify({ level: level.toUpperCase(), ...entry }) + "\n";
        (level === "error" || level === "warn" ? process.stderr : process.stdout).write(line);
      }
    },
  };
}
