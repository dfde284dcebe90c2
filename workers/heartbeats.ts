import type { Context } from '@temporalio/activity';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';

// Every activity of the main worker heartbeats while it runs, so a worker that dies
// mid-activity is noticed within the heartbeat timeout (workflows/activity-options.ts) and the
// activity retried elsewhere in seconds, instead of after its whole start-to-close timeout.
// Beats are throttled by the SDK, so a call that ends in under a second sends none.
const BEAT_EVERY_MS = 1_000;

export const heartbeatWhileRunning: ActivityInterceptorsFactory = (ctx: Context) => ({
  inbound: {
    async execute(input, next) {
      const beat = setInterval(() => ctx.heartbeat(), BEAT_EVERY_MS);
      try {
        return await next(input);
      } finally {
        clearInterval(beat);
      }
    },
  },
});
