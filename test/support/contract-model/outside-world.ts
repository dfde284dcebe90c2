import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import type { ExecutionPlan, ExecutionReport } from '../../../domain/execution';
import { executionReport } from '../execution-report';
import { recordedActivities, type Recorder } from '../recorded-activities';
import { QUEUES } from './queues';
import type { RunConfig } from './run-config';
import type { Entry } from './timeline';

export const SANDBOX_AGENT = 'S';
const SANDBOX_PLAN: ExecutionPlan = { agentId: SANDBOX_AGENT, binaryHash: 'sha-model', binaryUrl: 's3://model/agent.wasm', timeoutMs: 60_000, taskQueue: QUEUES.sandbox };

type SandboxOutcome = 'ok' | 'fail' | 'cancelled';
type Gate = { promise: Promise<SandboxOutcome>; open: (o: SandboxOutcome) => void; waiting: number };

/**
 * What one contract's workflow talks to: the recorded activities (Postgres and Stripe stand-ins)
 * and the sandbox. Every call is written to the timeline as it commits. A call can be made to
 * lag — committed, its answer held back until the next request — and the sandbox run lasts until
 * the test ends it, so that requests can arrive in the windows between.
 */
export class OutsideWorld {
  readonly timeline: Entry[] = [];
  private readonly recorder: Recorder;
  private readonly recorded: Record<string, (...args: unknown[]) => Promise<unknown>>;
  /** Activities whose next call commits, then answers only once released. */
  private readonly armed = new Set<string>();
  private held: { name: string; release: () => void }[] = [];
  private sandboxGate: Gate | null = null;
  private readonly sandboxRuns = new Set<Context>();
  /** Nothing may wait (time is being skipped, a worker stops, the run ends): calls answer at once. */
  unblocked = false;

  constructor(
    private readonly config: RunConfig,
    private readonly index: number,
    private readonly note: (line: string) => void,
  ) {
    const { activities, recorder } = recordedActivities();
    this.recorder = recorder;
    this.recorded = activities as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  }

  async activity(name: string, args: unknown[]): Promise<unknown> {
    if (name === 'holdEscrow') this.prepareHold();
    if (name === 'recordAward') this.recorder.executionPlan = this.config.sandbox && (args[1] as { agentId: string }).agentId === SANDBOX_AGENT ? SANDBOX_PLAN : null;
    const value = await this.recorded[name]!(...args);
    this.timeline.push({ type: 'call', name, args, result: value });
    if (!this.unblocked && this.armed.delete(name)) {
      this.note(`  (${name} committed; its answer lags)`);
      await new Promise<void>((release) => this.held.push({ name, release }));
    }
    return value;
  }

  // Hold deadlines relative to the server's clock, which the run skips.
  private prepareHold(): void {
    const now = Context.current().info.currentAttemptScheduledTimestampMs;
    this.recorder.holdStatus = this.config.payment;
    this.recorder.actionDeadline = new Date(now + 3600_000).toISOString();
    this.recorder.captureBy = this.config.earlyCapture ? new Date(now + 3600_000).toISOString() : null;
  }

  arm(activity: string): void {
    this.armed.add(activity);
  }

  /** Activity types with a call held back now. */
  get lagging(): Set<string> {
    const names = new Set(this.held.map((h) => h.name));
    if (this.sandboxRunning) names.add('executeAgent');
    return names;
  }

  get heldCount(): number {
    return this.held.length;
  }

  /** Lets the first `upTo` held calls answer (all by default); says whether any did. */
  release(upTo = this.held.length): boolean {
    const held = this.held.slice(0, upTo);
    this.held = this.held.slice(upTo);
    for (const h of held) h.release();
    return held.length > 0;
  }

  async executeAgent(): Promise<ExecutionReport> {
    let outcome: SandboxOutcome = 'ok';
    if (!this.unblocked) {
      this.sandboxGate ??= gate();
      const g = this.sandboxGate;
      const ctx = Context.current();
      g.waiting++;
      this.sandboxRuns.add(ctx);
      // A run held longer than its heartbeat timeout would be retried.
      const alive = setInterval(() => ctx.heartbeat(), 1_000);
      try {
        // Until the test ends the run, or the workflow cancels it.
        outcome = await Promise.race([g.promise, ctx.cancelled.catch((): SandboxOutcome => 'cancelled')]);
      } finally {
        clearInterval(alive);
        g.waiting--;
        this.sandboxRuns.delete(ctx);
      }
    } else {
      this.timeline.push({ type: 'sandbox', agentId: SANDBOX_AGENT, outcome });
      this.note('  (the sandbox run finished ok while time passed)');
    }
    if (outcome === 'cancelled') throw new CancelledFailure('the workflow cancelled the run');
    const report: ExecutionReport = executionReport({
      taskResultId: `task-${this.index}`,
      attempt: 1,
      outcome: outcome === 'ok' ? 'ok' : 'exit_nonzero',
      exitCode: outcome === 'ok' ? 0 : 1,
      stdout: outcome === 'ok' ? JSON.stringify(`sandbox-output-${this.index}`) : '',
      durationMs: 5,
      fuelConsumed: 1000,
      message: null,
    });
    if (outcome === 'fail') throw ApplicationFailure.nonRetryable('the agent exited with status 1', 'SANDBOX_EXIT_NONZERO', report);
    return report;
  }

  get sandboxRunning(): boolean {
    return (this.sandboxGate?.waiting ?? 0) > 0;
  }

  finishSandbox(outcome: 'ok' | 'fail'): void {
    const g = this.sandboxGate;
    if (!g) return;
    this.sandboxGate = null;
    this.timeline.push({ type: 'sandbox', agentId: SANDBOX_AGENT, outcome });
    g.open(outcome);
  }

  /** The real sandbox activity learns of a cancel from its next heartbeat: this one beats now. */
  heartbeatSandbox(): void {
    for (const ctx of this.sandboxRuns) ctx.heartbeat();
  }
}

function gate(): Gate {
  let open!: (o: SandboxOutcome) => void;
  const promise = new Promise<SandboxOutcome>((resolve) => (open = resolve));
  return { promise, open, waiting: 0 };
}
