import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { registerAgent, registerUser, startPlatform, type Platform } from '../support/platform';

// schemathesis (PyPI, pinned in scripts/lib.sh) against the real API and its OpenAPI document,
// with its default checks (all of them): no 5xx, every status, header and body as documented,
// valid requests accepted and invalid ones refused. It runs as a user (bearer JWT) and as an
// agent (X-API-Key) at once: each operation declares which one it takes. Kept short for the
// suite; `npm run schemathesis` runs it longer (SCHEMATHESIS_MAX_EXAMPLES, SCHEMATHESIS_MAX_TIME).
const SCHEMATHESIS = process.env.SCHEMATHESIS ?? join(process.env.HERMES_VENV ?? join(homedir(), '.cache/hermes/venv'), 'bin/schemathesis');
const MAX_EXAMPLES = process.env.SCHEMATHESIS_MAX_EXAMPLES ?? '4';
// With a time budget schemathesis keeps fuzzing until it is spent (the long run); without one
// it stops after its cases (~2,000 here, about a minute, mostly the coverage phase's).
const MAX_TIME_SECONDS = process.env.SCHEMATHESIS_MAX_TIME ? Number(process.env.SCHEMATHESIS_MAX_TIME) : undefined;
const CONFIG = new URL('../schemathesis.toml', import.meta.url).pathname;
const HOOKS = new URL('../schemathesis_hooks.py', import.meta.url).pathname;

let platform: Platform;
beforeAll(async () => {
  // schemathesis sends hundreds of requests as one user and one agent in a minute.
  platform = await startPlatform({ RATE_LIMIT_AGENT_PER_MINUTE: 100_000 });
});
afterAll(async () => platform?.close());

it(
  'finds no server error and no response that departs from the document',
  async () => {
    const { api, base } = platform;
    const user = await registerUser(api, 'Fuzzer');
    const owner = await registerUser(api, 'Owner');
    const agent = await registerAgent(api, owner.token, { capabilities: [] });
    const reports = mkdtempSync(join(tmpdir(), 'hermes-schemathesis-'));
    const args = [
      '--config-file', CONFIG,
      'run', `${base}/api/v1/openapi.json`,
      '--header', `Authorization: Bearer ${user.token}`,
      '--header', `X-API-Key: ${agent.apiKey}`,
      '--max-examples', MAX_EXAMPLES,
      ...(MAX_TIME_SECONDS ? ['--max-time', String(MAX_TIME_SECONDS)] : []),
      '--workers', '1',
      '--seed', process.env.SCHEMATHESIS_SEED ?? String(Date.now() % 1_000_000),
      '--report', 'junit',
      '--report-dir', reports,
      '--no-color',
    ];
    const run = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
      // Its working directory gets its cache (.schemathesis/): keep that out of the checkout.
      const env = {
        ...process.env,
        SCHEMATHESIS_HOOKS: HOOKS,
        // For the hooks: sign webhook events as Stripe does; know which agent is calling.
        HERMES_STRIPE_WEBHOOK_SECRET: platform.config.STRIPE_WEBHOOK_SECRET,
        HERMES_AGENT_ID: agent.id,
      };
      const child = spawn(SCHEMATHESIS, args, { cwd: reports, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d) => (output += d));
      child.stderr.on('data', (d) => (output += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, output }));
    });
    writeFileSync(join(reports, 'output.txt'), run.output);
    // The summary (operations, cases generated, failures by check) for the log, without its
    // "==== N warnings in Xs ====" rules: CI reads a pytest-style closing line as the suite's
    // own result, and schemathesis' one counts no tests.
    const summaryAt = run.output.lastIndexOf('=== SUMMARY');
    const summary = run.output
      .slice(summaryAt >= 0 ? summaryAt : -4000)
      .split('\n')
      .filter((line) => !/^=+ .* =+$/.test(line.trim()))
      .join('\n');
    console.log(`schemathesis (full output: ${join(reports, 'output.txt')}):\n${summary}`);
    expect(run.code, run.output).toBe(0);
  },
  ((MAX_TIME_SECONDS ?? 300) + 120) * 1000,
);
