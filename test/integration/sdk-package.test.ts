import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually } from '../support/eventually';
import { postContract, registerAgent, registerUser, startPlatform, waitForContract, type Platform } from '../support/platform';

// The agent SDK as someone outside this repository gets it: `npm pack` in sdk/, the tarball
// installed into a fresh project under the OS temp dir (socket.io-client from the npm
// registry or its cache), and the README's agent (sdk/examples/agent.mjs, copied as is) run
// with node against a real API, while this test plays the user up to SETTLED.

const run = promisify(execFile);
const sdkDir = fileURLToPath(new URL('../../sdk/', import.meta.url));
const typescript = fileURLToPath(new URL('../../node_modules/typescript/bin/tsc', import.meta.url));

let platform: Platform;
let project: string;
let agentProcess: ChildProcess | undefined;

beforeAll(async () => {
  platform = await startPlatform();
  project = await mkdtemp(join(tmpdir(), 'hermes-sdk-consumer-'));
}, 180_000);
afterAll(async () => {
  agentProcess?.kill('SIGKILL');
  if (project) await rm(project, { recursive: true, force: true });
  await platform?.close();
});

it('packs, installs into a separate project, and an agent written with it bids, delivers and is paid', async () => {
  // Pack (prepack builds dist/ with tsc) straight into the consumer's directory.
  const packed = JSON.parse((await run('npm', ['pack', '--json', '--pack-destination', project], { cwd: sdkDir })).stdout) as { filename: string; files: { path: string }[] }[];
  const [{ filename, files }] = packed as [(typeof packed)[number]];
  const paths = files.map((f) => f.path);
  expect(paths).toEqual(expect.arrayContaining(['package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/api-types.d.ts', 'examples/agent.mjs']));
  expect(paths.filter((p) => !/^(package\.json|README\.md|dist\/|src\/|examples\/)/.test(p))).toEqual([]);

  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'hermes-sdk-consumer', private: true, type: 'module' }));
  await run('npm', ['install', join(project, filename), '--prefer-offline', '--no-audit', '--no-fund'], { cwd: project });
  await copyFile(join(sdkDir, 'examples/agent.mjs'), join(project, 'agent.mjs'));

  // A TypeScript user gets the declarations through `exports`, with nothing but the package.
  await writeFile(
    join(project, 'check.ts'),
    `import { HermesAgent, type BidAnswer, type ContractOffer, type components } from '@hermes/agent-sdk';
const agent = new HermesAgent({ baseUrl: 'http://127.0.0.1:3000', apiKey: 'hk_x' });
agent.on('contract:new', async (c: ContractOffer) => { const a: BidAnswer = await agent.bid(c.contract_id, { priceCents: 1, etaSeconds: 60, confidence: 1 }); console.log(a); });
export const open: components['schemas']['OpenContract'][] = await agent.openContracts();
`,
  );
  await writeFile(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: [] }, files: ['check.ts'] }));
  await run(process.execPath, [typescript, '-p', project], { cwd: project });

  // The user's side, over HTTP.
  const { api } = platform;
  const user = await registerUser(api);
  const owner = await registerUser(api, 'Owner');
  // A capability of its own, so only this contract reaches this agent (other files post theirs).
  const skill = `sdk-package-${Date.now()}`;
  const agent = await registerAgent(api, owner.token, { name: 'packed', capabilities: [skill] });
  const output: string[] = [];
  const child = spawn(process.execPath, ['agent.mjs'], {
    cwd: project,
    env: { ...process.env, HERMES_URL: platform.base, HERMES_API_KEY: agent.apiKey, HERMES_SKILL: skill },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  agentProcess = child;
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.stdout.on('data', (b: Buffer) => output.push(...b.toString().split('\n').filter(Boolean)));
  child.stderr.on('data', (b: Buffer) => output.push(`stderr: ${b}`));
  await eventually(() => expect(output).toContain('connected'), { timeout: 30_000, message: 'the agent connected' });

  const id = await postContract(api, user.token, { required_capabilities: [skill], reward_cents: 5_000 });
  await eventually(() => expect(output).toContain(`bid 4000 on ${id}`), { message: 'the agent bid' });
  expect((await api('POST', `/api/v1/contracts/${id}/close-bidding`, { token: user.token })).status).toBe(200);
  const delivered = await waitForContract(api, user.token, id, 'DELIVERED');
  expect(delivered.award.agent_id).toBe(agent.id);
  expect(delivered.deliveries[0].output).toEqual({ summary: 'done for 4000 cents' });
  // DELIVERED may show before the agent has read its answer.
  await eventually(() => expect(output).toContain(`delivered ${id} (attempt 1)`), { message: 'the agent saw its delivery taken' });

  expect((await api('POST', `/api/v1/contracts/${id}/accept`, { token: user.token, body: { rating: 5 } })).status).toBe(200);
  await waitForContract(api, user.token, id, 'SETTLED');
  await eventually(() => expect(output).toContain(`${id} ended SETTLED`), { message: 'the agent heard the contract end' });
  // Paid: the agent's owner earned the price less the platform's fee.
  const wallet = await api('GET', '/api/v1/wallet', { token: owner.token });
  expect(wallet.body.lifetime_earnings_cents).toBeGreaterThan(0);
  expect(wallet.body.lifetime_earnings_cents).toBeLessThanOrEqual(4_000);

  // SIGTERM closes the agent and node exits on its own: no timer or socket left behind.
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(output.filter((l) => l.startsWith('stderr:'))).toEqual([]);
}, 300_000);

it('the README shows the same agent the package test runs', async () => {
  const readme = await readFile(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
  const example = await readFile(join(sdkDir, 'examples/agent.mjs'), 'utf8');
  expect(readme).toContain('```js\n' + example + '```');
  expect(example.trimEnd().split('\n').length).toBeLessThan(30);
});
