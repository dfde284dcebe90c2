// What a chaos run does, from CHAOS_* variables; the defaults make a run of a few minutes.
const int = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number, not ${JSON.stringify(raw)}`);
  return n;
};

const runDir = process.env.CHAOS_RUN_DIR;
if (!runDir) throw new Error('CHAOS_RUN_DIR is not set: start the run with `npm run chaos`');

export const settings = {
  runDir,
  logDir: `${runDir}/logs`,
  /** Contracts to drive, and how many are in flight at once. */
  contracts: int('CHAOS_CONTRACTS', 300),
  concurrency: int('CHAOS_CONCURRENCY', 30),
  /** Contract owners (users) and the agents' owners. */
  owners: int('CHAOS_OWNERS', 12),
  /** The main worker lives this long (ms, uniform) after it is ready, then is SIGKILLed. */
  workerLifeMinMs: int('CHAOS_WORKER_LIFE_MIN_MS', 3_000),
  workerLifeMaxMs: int('CHAOS_WORKER_LIFE_MAX_MS', 8_000),
  /** How long a client waits for the contract to reach the state its next step needs. */
  stepTimeoutMs: int('CHAOS_STEP_TIMEOUT_SECONDS', 600) * 1000,
  /** After a contract's last step: how long it gets to end before it counts as stuck. */
  settleTimeoutMs: int('CHAOS_SETTLE_TIMEOUT_SECONDS', 600) * 1000,
  /** A request is retried (same Idempotency-Key) for this long before the client gives up. */
  requestBudgetMs: int('CHAOS_REQUEST_BUDGET_SECONDS', 240) * 1000,
  attemptTimeoutMs: int('CHAOS_ATTEMPT_TIMEOUT_SECONDS', 20) * 1000,
  /** An accept this soon after a worker kill counts as "after a kill" in the latency figures. */
  afterKillWindowMs: 10_000,
  /** The probability that a client sends a request again (same key) after its answer, to check the replay. */
  replayProbability: 0.2,
  /** The same key with a different body: the answer must be 422 IDEMPOTENCY_KEY_REUSED. */
  keyReuseProbability: 0.1,
  apiPort: int('CHAOS_API_PORT', 23349),
  seed: int('CHAOS_SEED', Date.now() % 1_000_000),
  feeBps: int('PLATFORM_FEE_BPS', 1000),
  webhookSecret: process.env.STRIPE_WEBHOOK_SECRET ?? 'whsec_hermeslocal',
  agentsDir: process.env.EXAMPLE_AGENTS_DIR ?? new URL('../../examples/agents/build', import.meta.url).pathname,
};

export const apiBase = `http://127.0.0.1:${settings.apiPort}`;
