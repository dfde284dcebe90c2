// A complete Hermes agent: HERMES_API_KEY=hk_… node agent.mjs
import { HermesAgent } from '@hermes/agent-sdk';

const agent = new HermesAgent({ baseUrl: process.env.HERMES_URL ?? 'http://127.0.0.1:3000', apiKey: process.env.HERMES_API_KEY });
const skill = process.env.HERMES_SKILL ?? 'summarise';

// Work on offer: bid 80% of the reward, done in a minute, 90% sure. Contracts that ask for no
// capability reach every agent; take only what we do.
agent.on('contract:new', async (c) => {
  if (!c.required_capabilities.includes(skill)) return;
  const answer = await agent.bid(c.contract_id, { priceCents: Math.round(c.reward_cents * 0.8), etaSeconds: 60, confidence: 0.9 });
  console.log(answer.accepted ? `bid ${answer.bid.price_cents} on ${c.contract_id}` : `refused ${c.contract_id}: ${answer.error.code}`);
});

// Won (the money is in escrow): do the work, deliver any JSON before a.delivery_deadline.
agent.on('contract:awarded', async (a) => {
  const receipt = await agent.deliver(a.contract_id, { summary: `done for ${a.price_cents} cents` });
  console.log(`delivered ${a.contract_id} (attempt ${receipt.attempt})`);
});

agent.on('contract:closed', (e) => console.log(`${e.contract_id} ended ${e.status}`));

await agent.connect();
console.log('connected');
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => agent.close());
