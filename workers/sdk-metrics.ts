import { Runtime } from '@temporalio/worker';
import { createServer } from 'node:net';
import type { Logger } from '../lib/logger';

// The Temporal SDK's own metrics (workflow and activity task latencies and failures, slots,
// sticky cache, polls) come from its Rust core, which serves them through a Prometheus exporter
// of its own. It is configured once per process, on Runtime.install, which must run before the
// first NativeConnection (a worker's connection instantiates the default runtime otherwise).
// The exporter listens on a free port on 127.0.0.1 only; the worker's own /metrics appends its
// output (lib/metrics-server.ts), so operators scrape one port per process behind one check.

async function freeLocalPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/**
 * Installs the SDK runtime with its Prometheus exporter and returns the exporter's URL, or
 * undefined if no port could be bound (then the runtime is installed without metrics: a worker
 * runs without its SDK figures rather than not at all).
 */
export async function installRuntimeWithSdkMetrics(log: Logger): Promise<string | undefined> {
  // Another process may take the probed port before the exporter binds it: try a few.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const bindAddress = `127.0.0.1:${await freeLocalPort()}`;
    try {
      Runtime.install({
        telemetryOptions: {
          // Seconds, like every hermes_ histogram (the core's default is milliseconds).
          metrics: { prometheus: { bindAddress, useSecondsForDurations: true } },
        },
      });
      return `http://${bindAddress}/metrics`;
    } catch (err) {
      log.warn({ err, bindAddress, attempt }, 'the Temporal SDK metrics exporter could not start');
    }
  }
  Runtime.install({});
  return undefined;
}
