import { createServer as createNetServer } from 'node:net';
import { eventually } from '../support/eventually';
import { once } from 'node:events';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApp } from '../../api/app';
import { attachRealtime } from '../../api/realtime';
import { HermesAgent } from '../../sdk/src';
import { postContract, registerAgent, registerUser, startPlatform, type Platform } from '../support/platform';

// The SDK keeps reconnecting while the API is down: a reconnect refused during a restart
// once closed its socket for good, and the agent never heard of work again (found by
// `npm run chaos`, which SIGKILLs the API).
let platform: Platform;
let restarted: { close(): Promise<void> } | undefined;
beforeAll(async () => {
  platform = await startPlatform();
});
afterAll(async () => {
  await restarted?.close();
  await platform?.close();
});

it('hears of new contracts after the API was down for a few reconnect attempts', async () => {
  const { api } = platform;
  const user = await registerUser(api);
  const owner = await registerUser(api, 'Owner');
  const capability = `restart-${Date.now()}`;
  const agent = await registerAgent(api, owner.token, { capabilities: [capability] });
  const offers: string[] = [];
  const sdk = new HermesAgent({ baseUrl: platform.base, apiKey: agent.apiKey, reconnectDelayMs: 100, maxReconnectDelayMs: 300 });
  sdk.on('contract:new', (c) => void (c.required_capabilities.includes(capability) && offers.push(c.contract_id)));
  await sdk.connect();

  // The API goes away; reconnects are refused for a while; the API comes back on its port.
  const port = Number(new URL(platform.base).port);
  await platform.instance.close();
  // Meanwhile something on the port refuses the agent's reconnects: wait for a few of them.
  let refused = 0;
  const refuser = createNetServer((s) => void (refused++, s.destroy())).listen(port, '127.0.0.1');
  await once(refuser, 'listening');
  await eventually(() => refused >= 3);
  await new Promise((r) => refuser.close(r));
  const server = createApp(platform.deps).listen(port, '127.0.0.1');
  await once(server, 'listening');
  const realtime = await attachRealtime(server, platform.deps);
  restarted = { close: () => realtime.close() };

  const id = await postContract(api, user.token, { required_capabilities: [capability] });
  await eventually(() => expect(offers).toEqual([id]));
  sdk.close();
});
