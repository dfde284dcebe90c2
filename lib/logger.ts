import { pino, type Logger } from 'pino';
import type { Config } from './config';

export type { Logger };

// JSON lines on stdout, written asynchronously (sonic-boom, sync: false) and in batches: a log
// call formats the line and queues it; the queue goes out in one write once it holds 4 KiB, or
// every 200 ms, whichever comes first. A write per line (a syscall per request for the API's
// request log) cost about a tenth of a read's CPU; a line now appears at most 200 ms late.
// What is queued at exit is flushed synchronously by pino's exit hook (a SIGKILL loses it).
export function createLogger(config: Pick<Config, 'LOG_LEVEL'>, name: string): Logger {
  return pino(
    {
      name,
      level: config.LOG_LEVEL,
      redact: ['req.headers.authorization', 'req.headers["x-api-key"]', '*.password', '*.api_key'],
    },
    pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 200 }),
  );
}
