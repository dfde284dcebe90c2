import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Supervised } from './processes';
import { sleep, type Random } from './random';
import { settings } from './settings';

export type FaultKind = 'worker SIGKILL' | 'API SIGKILL' | 'Temporal restart' | 'Postgres restart';

export interface Fault {
  kind: FaultKind;
  at: number;
  /** When the service was back (ready), if it came back. */
  backAt: number | null;
  error?: string;
}

const RESTART_SCRIPT = fileURLToPath(new URL('./restart-service.sh', import.meta.url));

// Faults while contracts run: the main worker SIGKILLed a few seconds after every start (and
// started again at once), and, at set points of the run's progress, the API SIGKILLed twice,
// Temporal restarted once and Postgres restarted once (crash-stopped).
export class Faults {
  readonly log: Fault[] = [];
  private running = true;
  private killer: Promise<void> = Promise.resolve();
  private readonly pending: { at: number; kind: FaultKind }[] = [
    { at: 0.15, kind: 'API SIGKILL' },
    { at: 0.35, kind: 'Temporal restart' },
    { at: 0.55, kind: 'API SIGKILL' },
    { at: 0.75, kind: 'Postgres restart' },
  ];
  private inFlight: Promise<void>[] = [];

  constructor(
    private readonly procs: { api: Supervised; worker: Supervised },
    private readonly rnd: Random,
  ) {}

  startWorkerKiller(): void {
    this.killer = (async () => {
      while (this.running) {
        await this.procs.worker.waitReady(600_000).catch(() => undefined);
        await sleep(this.rnd.int(settings.workerLifeMinMs, settings.workerLifeMaxMs));
        if (!this.running) break;
        const fault = this.record('worker SIGKILL');
        await this.procs.worker.restart('SIGKILL');
        void this.procs.worker.waitReady(600_000).then(() => (fault.backAt = Date.now()), () => undefined);
      }
    })();
  }

  /** Called as contracts are launched: fires the faults whose point of progress has come. */
  onProgress(fraction: number): void {
    while (this.pending.length && this.pending[0]!.at <= fraction) {
      const { kind } = this.pending.shift()!;
      this.inFlight.push(this.fire(kind));
    }
  }

  private async fire(kind: FaultKind): Promise<void> {
    const fault = this.record(kind);
    try {
      if (kind === 'API SIGKILL') {
        await this.procs.api.restart('SIGKILL');
        await this.procs.api.waitReady();
      } else {
        await restartService(kind === 'Temporal restart' ? 'temporal' : 'postgres');
      }
      fault.backAt = Date.now();
    } catch (err) {
      fault.error = (err as Error).message;
    }
  }

  private record(kind: FaultKind): Fault {
    const fault: Fault = { kind, at: Date.now(), backAt: null };
    this.log.push(fault);
    return fault;
  }

  workerKillTimes(): number[] {
    return this.log.filter((f) => f.kind === 'worker SIGKILL').map((f) => f.at);
  }

  /** Stops the killing; the faults already begun finish, and the worker is left running. */
  async stop(): Promise<void> {
    this.running = false;
    this.onProgress(1);
    await Promise.all(this.inFlight);
    await this.killer;
    if (!this.procs.worker.ready) await this.procs.worker.waitReady().catch(() => undefined);
  }
}

function restartService(service: 'temporal' | 'postgres'): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [RESTART_SCRIPT, service], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`restarting ${service} exited ${code}`))));
  });
}
