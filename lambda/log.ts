/**
 * Structured logs: one JSON object per line. In Lambda with the JSON log format (AWS_LAMBDA_LOG_FORMAT),
 * objects go through console so that Lambda adds its timestamp, level and request id; elsewhere, one
 * JSON line on stdout/stderr.
 */
export type Level = "debug" | "info" | "warn" | "error";

export interface Logger {
  log(level: Level, message: string, fields?: Record<string, unknown>): void;
}

const RANK: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/**
 * The least severe level written: LOG_LEVEL, else the Lambda application log level
 * (AWS_LAMBDA_LOG_LEVEL), else "info".
 */
export function minimumLevel(env: NodeJS.ProcessEnv): Level {
  const value = (env.LOG_LEVEL || env.AWS_LAMBDA_LOG_LEVEL || "info").toLowerCase();
  return value in RANK ? (value as Level) : "info";
}

export function createLogger(env: NodeJS.ProcessEnv = process.env): Logger {
  const lambdaJson = env.AWS_LAMBDA_LOG_FORMAT === "JSON";
  const minimum = RANK[minimumLevel(env)];
  return {
    log(level, message, fields = {}) {
      if (RANK[level] < minimum) return;
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
