import { pino, type Logger } from 'pino';
import type { Config } from './config';

export type { Logger };

// JSON lines on stdout, written asynchronously (sonic-boom, sync: false): a log call formats
// the line and queues it; the write happens off the request's path, and lines logged while a
// write is in flight go out together in the next one. Nothing is buffered beyond that
// (minLength 0), so a line appears as soon as the fd takes it; what is queued at exit is
// flushed synchronously by pino's exit hook.
export function createLogger(config: Pick<Config, 'LOG_LEVEL'>, name: string): Logger {
  return pino(
    {
      name,
      level: config.LOG_LEVEL,
      redact: ['req.headers.authorization', 'req.headers["x-api-key"]', '*.password', '*.api_key'],
    },
    pino.destination({ dest: 1, sync: false, minLength: 0 }),
  );
}
