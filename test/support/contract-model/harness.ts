import { ApplicationFailure, Context } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { inject } from 'vitest';
import type { Activities } from '../../../activities';
import { recordedActivities } from '../recorded-activities';
import { timeSkippingEnv } from '../temporal-env';
import { ContractRun } from './contract-run';
import { QUEUES } from './queues';
import type { RunConfig } from './run-config';

// One time-skipping server and long-lived workers for every run of the model test: starting a
// server or bundling per run would cost more than the run. Activity calls are routed to the run
// whose workflow made them, so a run that ended early (a failed check) cannot write into the next.

type Running = { worker: Worker; running: Promise<void> };

export class ModelHarness {
  env!: TestWorkflowEnvironment;
  private readonly runs = new Map<string, ContractRun>();
  private readonly workers = new Map<string, Running>();
  private count = 0;

  async start(): Promise<void> {
    this.env = await timeSkippingEnv();
    await this.startWorker(QUEUES.cached);
    await this.startWorker(QUEUES.replaying);
    const sandbox = await Worker.create({
      connection: this.env.nativeConnection,
      namespace: this.env.namespace ?? 'default',
      taskQueue: QUEUES.sandbox,
      activities: {
        executeAgent: () => {
          const run = this.runOf();
          return run ? run.outside.executeAgent() : Promise.reject(ApplicationFailure.nonRetryable('no model run owns this contract', 'SANDBOX_EXIT_NONZERO'));
        },
      },
    });
    this.workers.set(QUEUES.sandbox, { worker: sandbox, running: sandbox.run() });
  }

  async stop(): Promise<void> {
    for (const queue of [...this.workers.keys()]) await this.stopWorker(queue);
    await this.env?.teardown();
  }

  async begin(config: RunConfig): Promise<ContractRun> {
    const run = new ContractRun(this, config, ++this.count);
    this.runs.set(run.workflowId, run);
    await run.start();
    return run;
  }

  async end(run: ContractRun): Promise<void> {
    await run.abandon();
    this.runs.delete(run.workflowId);
  }

  /** A worker restart: the old worker drains and stops, a new one polls the same task queue. */
  async restartWorker(queue: string): Promise<void> {
    await this.stopWorker(queue);
    await this.startWorker(queue);
  }

  async stopWorker(queue: string): Promise<void> {
    const w = this.workers.get(queue);
    if (!w) return;
    this.workers.delete(queue);
    w.worker.shutdown();
    await w.running;
  }

  async startWorker(queue: string): Promise<void> {
    const worker = await Worker.create({
      connection: this.env.nativeConnection,
      namespace: this.env.namespace ?? 'default',
      taskQueue: queue,
      workflowBundle: { codePath: inject('workflowBundlePath') },
      activities: this.routedActivities(),
      ...(queue === QUEUES.replaying ? { maxCachedWorkflows: 0 } : {}),
    });
    this.workers.set(queue, { worker, running: worker.run() });
  }

  private runOf(): ContractRun | null {
    return this.runs.get(Context.current().info.workflowExecution?.workflowId ?? '') ?? null;
  }

  private routedActivities(): Activities {
    const names = Object.keys(recordedActivities().activities);
    const orphan = recordedActivities().activities as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    return Object.fromEntries(
      names.map((name) => [
        name,
        (...args: unknown[]) => {
          const run = this.runOf();
          // A workflow whose run already ended (terminated after a failed check) gets answers
          // that go nowhere.
          return run ? run.activity(name, args) : orphan[name]!(...args);
        },
      ]),
    ) as unknown as Activities;
  }
}
