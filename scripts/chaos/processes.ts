import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { settings } from './settings';
import { sleep } from './random';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ProcessSpec {
  name: string;
  /** The entry point, run as `node --import tsx <script>` so a signal reaches the real process (tsx's CLI would relay it, but not SIGKILL). */
  script: string;
  env: Record<string, string>;
  /** Ready when a log line matches (workers), or when this URL answers 200 (the API). */
  readyLine?: RegExp;
  readyUrl?: string;
}

// One Hermes process the run kills and restarts. Its output goes to logs/<name>.log; an exit
// the run did not cause is counted and the process started again at once, as a supervisor would.
export class Supervised {
  private child: ChildProcess | null = null;
  private readonly log: WriteStream;
  private expectedExit = false;
  private stopped = false;
  private readyWaiters: (() => void)[] = [];
  ready = false;
  starts = 0;
  unexpectedExits: { at: number; code: number | null; signal: string | null }[] = [];

  constructor(readonly spec: ProcessSpec) {
    this.log = createWriteStream(`${settings.logDir}/${spec.name}.log`, { flags: 'a' });
  }

  start(): void {
    this.ready = false;
    this.expectedExit = false;
    this.starts++;
    this.log.write(`\n==== chaos: start #${this.starts} at ${new Date().toISOString()} ====\n`);
    const child = spawn(process.execPath, ['--import', 'tsx', this.spec.script], {
      cwd: ROOT,
      env: { ...process.env, ...this.spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    let tail = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      this.log.write(chunk);
      if (this.ready || !this.spec.readyLine) return;
      tail = (tail + chunk.toString()).slice(-4096);
      if (this.spec.readyLine.test(tail)) this.markReady();
    });
    child.stderr!.on('data', (chunk: Buffer) => this.log.write(chunk));
    child.on('exit', (code, signal) => {
      this.log.write(`\n==== chaos: exit code=${code} signal=${signal} at ${new Date().toISOString()} ====\n`);
      if (this.child === child) this.child = null;
      this.ready = false;
      if (this.expectedExit || this.stopped) return;
      this.unexpectedExits.push({ at: Date.now(), code, signal });
      setTimeout(() => !this.stopped && !this.child && this.start(), 500);
    });
    if (this.spec.readyUrl) void this.pollReady(child);
  }

  private async pollReady(child: ChildProcess): Promise<void> {
    while (this.child === child && !this.ready) {
      try {
        const res = await fetch(this.spec.readyUrl!, { signal: AbortSignal.timeout(1000) });
        if (res.ok) return this.markReady();
      } catch {
        // not listening yet
      }
      await sleep(200);
    }
  }

  private markReady(): void {
    this.ready = true;
    for (const w of this.readyWaiters.splice(0)) w();
  }

  async waitReady(timeoutMs = 120_000): Promise<void> {
    if (this.ready) return;
    await Promise.race([
      new Promise<void>((r) => this.readyWaiters.push(r)),
      sleep(timeoutMs).then(() => {
        if (!this.ready) throw new Error(`${this.spec.name} was not ready within ${timeoutMs / 1000}s (see ${settings.logDir}/${this.spec.name}.log)`);
      }),
    ]);
  }

  /** Kills the process with the signal and waits until it is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.expectedExit = true;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await gone;
  }

  async restart(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.kill(signal);
    this.start();
  }

  /** The end of the run: a graceful stop, forced after 10 s. */
  async stop(): Promise<void> {
    this.stopped = true;
    const child = this.child;
    if (child) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const forced = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(forced);
    }
    this.log.end();
  }

  /** For process.on('exit'): nothing may outlive the run. */
  killNow(): void {
    this.stopped = true;
    this.child?.kill('SIGKILL');
  }
}
