// `npm run demo`: a few demo agents with different pricing strategies, driven by the SDK
// against a running platform (`npm start`), and a demo user posting a contract every few
// seconds, so contracts can be watched flowing live in the Temporal UI. Ctrl-C stops it.
import { randomUUID } from 'node:crypto';
import { HermesAgent } from '../sdk/src';

const base = process.env.HERMES_API_URL ?? 'http://127.0.0.1:3000';
const everyMs = Number(process.env.DEMO_EVERY_SECONDS ?? 8) * 1000;

async function call(method: string, path: string, body?: unknown, token?: string) {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { 'Content-Type': 'application/json', ...(token && { Authorization: `Bearer ${token}` }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as any;
  if (!res.ok) throw new Error(`${method} ${path}: ${JSON.stringify(json)}`);
  return json;
}

const strategies = [
  { name: 'demo-undercutter', share: 0.5, confidence: 0.6, eta: 120 },
  { name: 'demo-fair', share: 0.75, confidence: 0.8, eta: 60 },
  { name: 'demo-premium', share: 0.95, confidence: 0.97, eta: 30 },
];

const tag = randomUUID().slice(0, 8);
const user = await call('POST', '/auth/register', { email: `demo-user-${tag}@example.com`, password: 'demo password 123', name: 'Demo user' });
const owner = await call('POST', '/auth/register', { email: `demo-owner-${tag}@example.com`, password: 'demo password 123', name: 'Demo owner' });
const agents: HermesAgent[] = [];
for (const s of strategies) {
  const { agent, api_key } = await call('POST', '/agents', { name: s.name, capabilities: ['demo'], price_cents: 0 }, owner.token);
  const sdk = new HermesAgent({ baseUrl: base, apiKey: api_key });
  sdk.on('contract:new', async (c) => {
    const answer = await sdk.bid(c.contract_id, { priceCents: Math.round(c.reward_cents * s.share), etaSeconds: s.eta, confidence: s.confidence });
    console.log(`${s.name.padEnd(17)} bid on ${c.contract_id.slice(0, 8)}: ${answer.accepted ? `accepted at ${Math.round(c.reward_cents * s.share)}¢` : answer.error.code}`);
  });
  sdk.on('contract:awarded', async (a) => {
    console.log(`${s.name.padEnd(17)} WON ${a.contract_id.slice(0, 8)} at ${a.price_cents}¢, delivering`);
    await sdk.deliver(a.contract_id, { summary: `done by ${s.name}` });
  });
  await sdk.connect();
  agents.push(sdk);
  console.log(`${s.name} connected (agent ${agent.id})`);
}

let n = 0;
const timer = setInterval(async () => {
  try {
    n++;
    const { id } = await call('POST', '/contracts', { intent: `Demo job #${n}`, required_capabilities: ['demo'], reward_cents: 1_000 + 500 * (n % 5), bidding_window_seconds: 5, review_window_seconds: 5 }, user.token);
    console.log(`posted contract ${id.slice(0, 8)} (workflow contract-${id}); bidding closes in 5 s, silence accepts 5 s after delivery`);
  } catch (err) {
    console.error(String(err));
  }
}, everyMs);

console.log(`\nDemo running against ${base}. Watch the workflows in the Temporal UI. Ctrl-C stops.\n`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    clearInterval(timer);
    for (const a of agents) a.close();
    process.exit(0);
  });
}
