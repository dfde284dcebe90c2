import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Http } from './http';
import { apiBase, settings } from './settings';
import { AgentEars, OwnerEars } from './sockets';

// The people and agents of a run: owners who post contracts, agents' owners, and agents that
// deliver by hand (generalists with every capability, specialists with one) or run a WASM
// binary in the sandbox (text-stats, uploaded twice so a re-award has a second runner).

export interface Owner {
  name: string;
  id: string;
  token: string;
  ears: OwnerEars;
}

export interface Agent {
  name: string;
  id: string;
  apiKey: string;
  capabilities: string[];
  ownerId: string;
  wasm: boolean;
  ears: AgentEars | null;
}

export interface Cast {
  owners: Owner[];
  generalists: Agent[];
  specialists: Agent[];
  wasm: Agent[];
  all: Agent[];
}

export const GENERAL = ['pdf', 'summarise', 'text'];
export const SPECIAL = ['pdf'];
export const WASM_CAPS = ['statistics'];

export async function assembleCast(http: Http): Promise<Cast> {
  const register = async (name: string) => {
    const email = `${name}-${randomUUID().slice(0, 8)}@chaos.example.com`;
    const res = await http.call('POST', '/auth/register', { actor: 'setup', credentials: {}, body: { email, password: 'chaos password 123', name } });
    if (res.status !== 201) throw new Error(`register ${name}: ${res.status} ${JSON.stringify(res.body)}`);
    return { id: res.body.user.id as string, token: res.body.token as string };
  };
  const owners: Owner[] = [];
  for (let i = 1; i <= settings.owners; i++) {
    const u = await register(`owner${i}`);
    owners.push({ name: `owner${i}`, ...u, ears: new OwnerEars(u.token) });
  }
  const makers = [await register('maker1'), await register('maker2'), await register('maker3')];

  const agent = async (name: string, maker: { id: string; token: string }, capabilities: string[]): Promise<Agent> => {
    const res = await http.call('POST', '/agents', { actor: 'setup', credentials: { token: maker.token }, body: { name, capabilities, price_cents: 100 } });
    if (res.status !== 201) throw new Error(`agent ${name}: ${res.status} ${JSON.stringify(res.body)}`);
    return { name, id: res.body.agent.id, apiKey: res.body.api_key, capabilities, ownerId: maker.id, wasm: false, ears: new AgentEars(res.body.api_key) };
  };
  const generalists: Agent[] = [];
  for (let i = 1; i <= 6; i++) generalists.push(await agent(`generalist${i}`, makers[i % 2]!, GENERAL));
  const specialists = [await agent('specialist1', makers[2]!, SPECIAL), await agent('specialist2', makers[2]!, SPECIAL)];

  const wasmModule = readFileSync(`${settings.agentsDir}/text-stats.wasm`);
  const wasm: Agent[] = [];
  for (let i = 1; i <= 2; i++) {
    const maker = makers[i - 1]!;
    const form = new FormData();
    for (const [k, v] of Object.entries({ name: `wasm-stats${i}`, version: '1.0.0', capabilities: WASM_CAPS.join(','), price_cents: '100' })) form.append(k, v);
    form.append('file', new Blob([wasmModule], { type: 'application/wasm' }), 'text-stats.wasm');
    const res = await fetch(`${apiBase}/api/v1/agents/upload`, { method: 'POST', headers: { Authorization: `Bearer ${maker.token}` }, body: form });
    const body = (await res.json()) as any;
    if (res.status !== 201) throw new Error(`upload wasm-stats${i}: ${res.status} ${JSON.stringify(body)}`);
    wasm.push({ name: `wasm-stats${i}`, id: body.agent.id, apiKey: body.api_key, capabilities: WASM_CAPS, ownerId: maker.id, wasm: true, ears: null });
  }

  const all = [...generalists, ...specialists, ...wasm];
  await Promise.all([...owners.map((o) => o.ears.connect()), ...all.map((a) => a.ears?.connect())]);
  return { owners, generalists, specialists, wasm, all };
}

export function closeCast(cast: Cast): void {
  for (const o of cast.owners) o.ears.close();
  for (const a of cast.all) a.ears?.close();
}
