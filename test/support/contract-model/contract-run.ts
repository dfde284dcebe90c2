import { WorkflowNotFoundError, WorkflowUpdateFailedError, WorkflowUpdateStage, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, type UpdateDefinition } from '@temporalio/common';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContractInput, ContractOutcome, ContractState, PaymentSignal } from '../../../domain/contract-types';
import { contractWorkflow } from '../../../workflows/contract';
import { getState, paymentEvent } from '../../../workflows/contract-messages';
import { contractInput } from '../builders';
import type { ModelHarness } from './harness';
import { idleness, type History } from './history';
import { OutsideWorld } from './outside-world';
import { violation } from './properties';
import { QUEUES } from './queues';
import type { RunConfig } from './run-config';
import { rowOf, type Entry, type Row } from './timeline';

export const OWNER = 'owner';
export const STRANGER = 'mallory';
export const PAYMENT_INTENT = 'pi_recorded'; // what the recorded escrow activities answer

export type Answer = { ok: true; value: unknown } | { ok: false; code: string; message: string };

export type ReqKind = 'bid' | 'close' | 'award' | 'deliver' | 'accept' | 'reject' | 'cancel';

export interface Attempt {
  how: 'first' | 'retry' | 'lost';
  /** The row (what GET showed) when this attempt was sent. */
  row: Row;
  answer: Answer | null;
  outcome: Promise<Answer>;
}

/** One client request; retries send it again with the same update id. */
export interface Req {
  n: number;
  kind: ReqKind;
  label: string;
  def: UpdateDefinition<unknown, [unknown], string>;
  args: [unknown];
  updateId: string;
  /** Marks this request's effect in rows and state (bid message, output, comment, reason). */
  token: string;
  userId?: string;
  agentId?: string;
  bidId?: string;
  wellFormed: boolean;
  attempts: Attempt[];
}

export type AttemptCheck = (run: ContractRun, req: Req, attempt: Attempt) => Promise<void>;

const DEADLINES = { bidding: 'biddingDeadline', award: 'awardDeadline', delivery: 'deliveryDeadline', review: 'reviewDeadline' } as const;
export type TimeTarget = keyof typeof DEADLINES | 'hours';

/**
 * One contract driven by the model test, from the clients' side: its workflow on the harness's
 * server, the requests sent to it and their answers, time skipped, workers restarted. What the
 * workflow wrote and paid is in `outside`.
 */
export class ContractRun {
  readonly input: ContractInput;
  readonly workflowId: string;
  readonly taskQueue: string;
  readonly outside: OutsideWorld;
  readonly requests: Req[] = [];
  /** What happened, step by step: the report of a failure. */
  readonly log: string[] = [];
  /** Answers that came after their request's step: checked once the contract closed. */
  readonly pending: { req: Req; attempt: Attempt }[] = [];
  handle!: WorkflowHandle<typeof contractWorkflow>;
  closed = false;
  /** Set by the test: the per-answer checks. */
  onAnswer: AttemptCheck = async () => undefined;
  private tokens = 0;
  private updates = 0;

  constructor(
    private readonly harness: ModelHarness,
    readonly config: RunConfig,
    readonly index: number,
  ) {
    this.input = contractInput({ userId: OWNER, awardMode: config.awardMode, maxReawards: config.maxReawards });
    this.workflowId = `contract-model-${index}-${this.input.contractId}`;
    this.taskQueue = config.restartable ? QUEUES.replaying : QUEUES.cached;
    this.outside = new OutsideWorld(config, index, (line) => this.note(line));
  }

  get timeline(): readonly Entry[] {
    return this.outside.timeline;
  }

  async start(): Promise<void> {
    this.handle = await this.harness.env.client.workflow.start(contractWorkflow, {
      taskQueue: this.taskQueue,
      workflowId: this.workflowId,
      args: [this.input],
    });
    await this.settle();
  }

  /** An activity of this contract's workflow (the harness routes it here). */
  async activity(name: string, args: unknown[]): Promise<unknown> {
    await this.stopCancelledSandbox();
    return this.outside.activity(name, args);
  }

  /**
   * The workflow cancels a sandbox run it no longer needs (a cancel came) and may go on without
   * waiting. The run stops before the workflow's next step: the test server's clock stops for
   * good when an activity answers after its workflow closed.
   */
  private async stopCancelledSandbox(history?: History): Promise<boolean> {
    if (!this.outside.sandboxRunning) return false;
    const events = (history ?? (await this.handle.fetchHistory())).events ?? [];
    if (!events.some((e) => e.activityTaskCancelRequestedEventAttributes)) return false;
    this.outside.heartbeatSandbox();
    await this.untilNoActivityRuns('executeAgent');
    return true;
  }

  /** Until no activity (of that type) runs for the workflow, or a few seconds passed. */
  private async untilNoActivityRuns(type?: string, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const pending = (await this.handle.describe()).raw.pendingActivities ?? [];
      if (!pending.some((a) => !type || a.activityType?.name === type)) return;
      await sleep(10);
    }
  }

  // ---- reading ----

  /** The contract as GET /contracts/:id shows it. */
  row(): Row {
    return rowOf(this.outside.timeline);
  }

  /** The contract as the workflow holds it. */
  async state(): Promise<ContractState> {
    return this.handle.query(getState);
  }

  /** A string no other request carries (delimited, so no token is part of another). */
  token(kind: string): string {
    return `~${kind}-${this.index}-${++this.tokens}~`;
  }

  note(line: string): void {
    this.log.push(line);
  }

  /**
   * Waits until the workflow has nothing left to do but wait: for a timer, a request or a
   * lagging call. Read from the history rather than timed, so a step's checks see the workflow
   * after it reacted, however slow this machine is.
   */
  async settle(timeoutMs = 20_000): Promise<{ completedUpdates: Set<string> }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const history = await this.handle.fetchHistory();
      if (await this.stopCancelledSandbox(history)) continue;
      const seen = idleness(history, this.outside.lagging);
      this.closed = seen.closed;
      if (seen.idle) return seen;
      if (Date.now() > deadline) throw new Error(`harness: the workflow did not settle in ${timeoutMs} ms (${seen.busy})`);
      await sleep(5);
    }
  }

  // ---- acting ----

  newRequest(kind: ReqKind, label: string, def: Req['def'], args: [unknown], token: string, extra: Partial<Req> = {}): Req {
    const req: Req = {
      n: this.requests.length + 1,
      kind,
      label,
      def,
      args,
      updateId: `u-${this.index}-${++this.updates}`,
      token,
      wellFormed: true,
      attempts: [],
      ...extra,
    };
    this.requests.push(req);
    return req;
  }

  private startAttempt(req: Req, how: Attempt['how']): { attempt: Attempt; accepted: Promise<boolean> } {
    const started = this.handle.startUpdate(req.def, { args: req.args, updateId: req.updateId, waitForStage: WorkflowUpdateStage.ACCEPTED });
    const outcome = started.then((h) => h.result()).then((value): Answer => ({ ok: true, value }), answerOfError);
    const attempt: Attempt = { how, row: this.row(), answer: null, outcome };
    void outcome.then((a) => (attempt.answer = a)).catch(() => undefined);
    req.attempts.push(attempt);
    return { attempt, accepted: started.then(() => true, () => false) };
  }

  /**
   * Sends a request and waits for its answer, or until the workflow waits with the request
   * still open (an update that answers only when the contract ends): then the answer is pending
   * and is checked at the end of the run.
   */
  async send(req: Req, how: 'first' | 'retry' = 'first'): Promise<void> {
    const lagging = this.outside.heldCount;
    const { attempt, accepted } = this.startAttempt(req, how);
    const taken = await accepted;
    // The request was taken or refused: the calls that lagged before it may now answer (a
    // call of its own handler that lags waits for the next request).
    const released = this.outside.release(lagging);
    const label = `${req.n}. ${how === 'retry' ? 'retry ' : ''}${req.label}`;
    for (;;) {
      if (await Promise.race([attempt.outcome, sleep(5).then(() => null)])) break;
      const { completedUpdates } = await this.settle();
      if (!completedUpdates.has(req.updateId) && attempt.answer === null) {
        this.note(`${label} → pending`);
        this.pending.push({ req, attempt });
        void attempt.outcome.then((a) => this.note(`   #${req.n} ${req.label} answered ${show(a)}`)).catch(() => undefined);
        return;
      }
    }
    this.note(`${label} → ${show(attempt.answer!)}`);
    // Checks read the workflow once it is still again (a request refused by its validator moved
    // nothing). Querying while a workflow task runs is also what a worker without a cache
    // handles worst: the test server then loses the task until it times out.
    if (taken || released) await this.settle();
    await this.onAnswer(this, req, attempt);
  }

  /**
   * The worker dies while the request is on its way; the client's attempt times out unanswered
   * (its answer is lost), a new worker starts, and the client retries with the same update id.
   */
  async sendThroughOutage(req: Req): Promise<void> {
    const lost = await this.unheld(async () => {
      await this.harness.stopWorker(this.taskQueue);
      const { attempt } = this.startAttempt(req, 'lost');
      await sleep(50);
      await this.harness.startWorker(this.taskQueue);
      return attempt;
    });
    this.note(`${req.n}. ${req.label} sent while the worker was down; its answer is lost`);
    await this.send(req, 'retry');
    if (await within(lost.outcome, 1_000)) await this.onAnswer(this, req, lost);
    else this.pending.push({ req, attempt: lost });
  }

  async restartWorker(): Promise<void> {
    // A worker drains its running activities before it stops: nothing may be held meanwhile.
    await this.unheld(() => this.harness.restartWorker(this.taskQueue));
    this.note('-- worker restarted');
    await this.settle();
  }

  /** Runs `f` with no call held: the lagging ones answer, and no new one lags until it is done. */
  private async unheld<T>(f: () => Promise<T>): Promise<T> {
    this.outside.unblocked = true;
    this.outside.release();
    try {
      return await f();
    } finally {
      this.outside.unblocked = false;
    }
  }

  async signal(kind: PaymentSignal['kind']): Promise<void> {
    const lagging = this.outside.heldCount;
    this.outside.timeline.push({ type: 'signal', kind });
    await this.handle.signal(paymentEvent, { kind, paymentIntentId: PAYMENT_INTENT, eventId: `evt_${randomUUID()}` });
    this.outside.release(lagging);
    this.note(`-- webhook ${kind}`);
    await this.settle();
  }

  async passTime(target: TimeTarget): Promise<void> {
    // The test server does not move its clock while an activity runs: nothing may be held.
    const skipped = await this.unheld(async () => {
      await this.settle();
      const now = await this.harness.env.currentTimeMs();
      let ms = 3 * 3600_000;
      if (target !== 'hours') {
        const deadline = (await this.state())[DEADLINES[target]];
        if (!deadline || Date.parse(deadline) <= now) return false;
        ms = Date.parse(deadline) - now + 1000;
      }
      await this.harness.env.sleep(ms);
      await this.settle();
      return true;
    });
    this.note(skipped ? `-- skipped ${target === 'hours' ? '3 hours' : `past the ${target} deadline`}` : `-- skip past the ${target} deadline: none ahead`);
  }

  /** The end of the run: lagging calls answer, the sandbox finishes, time runs until the contract closes. */
  async finish(timeoutMs = 30_000): Promise<ContractOutcome> {
    this.outside.unblocked = true;
    this.outside.release();
    if (this.outside.sandboxRunning) {
      this.outside.finishSandbox('ok');
      this.note('-- the sandbox run finished ok');
    }
    const outcome = await within(this.handle.result(), timeoutMs);
    if (!outcome) {
      const running = ((await this.handle.describe()).raw.pendingActivities ?? []).map((a) => a.activityType?.name);
      violation(this, 'terminal', `the contract did not close within ${timeoutMs / 1000} s (${(await this.state()).status}${running.length ? `, activities running: ${running.join(', ')}` : ''})`);
    }
    this.closed = true;
    this.note(`== closed ${outcome.status}${outcome.failureReason ? `/${outcome.failureReason}` : ''}`);
    return outcome;
  }

  /**
   * After the run, pass or fail: nothing of it may linger into the next. A run cut short by a
   * failed check is left to close on its own (time runs), so that no activity is still running
   * when it does; only one that will not close is terminated.
   */
  async abandon(): Promise<void> {
    this.outside.unblocked = true;
    this.outside.release();
    this.outside.finishSandbox('ok');
    if (this.closed) return;
    const closed = await within(this.handle.result().then(() => true, () => true), 10_000);
    if (!closed) {
      await this.untilNoActivityRuns();
      await this.handle.terminate('model run over').catch(() => undefined);
    }
  }
}

/** `p`'s value, or null once `ms` passed. */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(resolve, ms, null)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function answerOfError(err: unknown): Answer {
  if (err instanceof WorkflowUpdateFailedError) {
    const cause = err.cause;
    const code = cause instanceof ApplicationFailure ? (cause.type ?? 'ApplicationFailure') : (cause?.name ?? 'UpdateFailed');
    return { ok: false, code, message: cause?.message ?? err.message };
  }
  if (err instanceof WorkflowNotFoundError) return { ok: false, code: 'WORKFLOW_CLOSED', message: err.message };
  throw err;
}

export function show(a: Answer): string {
  if (!a.ok) return `refused ${a.code}: ${a.message}`;
  const v = a.value as Partial<ContractState> | null;
  return v && typeof v === 'object' && 'status' in v ? `ok (${v.status})` : 'ok';
}
