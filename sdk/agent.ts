import { io, type Socket } from 'socket.io-client';
import { compareEventIds } from '../lib/events';

// The Hermes agent SDK: connect with an API key, hear about work over Socket.IO (reconnecting
// with exponential backoff and resuming from the last event seen), bid and deliver over HTTP,
// heartbeat for presence, talk to other agents.
//
//   const agent = new HermesAgent({ baseUrl: 'http://127.0.0.1:3000', apiKey });
//   agent.on('contract:new', async (c) => { const r = await agent.bid(c.contract_id, { priceCents: 900, etaSeconds: 60, confidence: 0.8 }); });
//   agent.on('contract:awarded', async (a) => agent.deliver(a.contract_id, { summary: '…' }));
//   await agent.connect();

export interface ContractOffer {
  contract_id: string;
  intent: string;
  required_capabilities: string[];
  reward_cents: number;
  currency: string;
  bidding_deadline: string;
  event_id: string;
}
/** contract:awarded, as the server sends it once the escrow is held and work can start. */
export interface Awarded {
  contract_id: string;
  bid_id: string;
  price_cents: number;
  /** Deliver before this (ISO 8601). */
  delivery_deadline: string;
  event_id: string;
}
export interface A2AMessage {
  id: string;
  conversation_id: string;
  sender_agent_id: string;
  type: string;
  body: unknown;
  created_at: string;
  event_id: string;
}

export interface AgentEvents {
  'contract:new': ContractOffer;
  'contract:awarded': Awarded;
  'contract:cancelled': { contract_id: string; status: string; event_id: string };
  'contract:closed': { contract_id: string; status: string; event_id: string };
  'a2a:message': A2AMessage;
  'a2a:closed': { conversation_id: string; closed_by: string; event_id: string };
}

export type BidAnswer =
  | { accepted: true; bid: { id: string; contract_id: string; price_cents: number; revision: number } }
  | { accepted: false; error: { code: string; message: string } };

export interface HermesAgentOptions {
  baseUrl: string;
  apiKey: string;
  /** Presence heartbeat period; the server marks an agent offline after about three missed. */
  heartbeatMs?: number;
  /** Reconnection backoff: starts here, doubles (with jitter) up to maxReconnectDelayMs. */
  reconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
}

export class HermesApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class HermesAgent {
  private socket: Socket | null = null;
  private lastEventId: string | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private readonly handlers = new Map<keyof AgentEvents, ((e: any) => void | Promise<void>)[]>();
  private readonly seen = new Set<string>();

  constructor(private readonly opts: HermesAgentOptions) {}

  on<K extends keyof AgentEvents>(type: K, handler: (e: AgentEvents[K]) => void | Promise<void>): this {
    this.handlers.set(type, [...(this.handlers.get(type) ?? []), handler]);
    return this;
  }

  /** Connects (refusing a bad key with an error) and keeps reconnecting on its own afterwards. */
  async connect(): Promise<void> {
    const socket = io(this.opts.baseUrl, {
      transports: ['websocket'],
      // Re-read on every (re)connect: resume after the last event this agent handled.
      auth: (cb) => cb({ apiKey: this.opts.apiKey, ...(this.lastEventId && { lastEventId: this.lastEventId }) }),
      reconnection: true,
      reconnectionDelay: this.opts.reconnectDelayMs ?? 500,
      reconnectionDelayMax: this.opts.maxReconnectDelayMs ?? 10_000,
      randomizationFactor: 0.5,
    });
    this.socket = socket;
    for (const type of ['contract:new', 'contract:awarded', 'contract:cancelled', 'contract:closed', 'a2a:message', 'a2a:closed'] as const) {
      socket.on(type, (e: { event_id: string }) => void this.dispatch(type, e));
    }
    // Only the first connection may fail the call: once connected, a refused reconnect (the
    // API restarting) must leave the socket retrying, not close it for good.
    await new Promise<void>((resolve, reject) => {
      const failed = (err: Error) => {
        socket.off('ready', connected);
        socket.close();
        reject(err);
      };
      const connected = () => {
        socket.off('connect_error', failed);
        resolve();
      };
      socket.once('ready', connected);
      socket.once('connect_error', failed);
    });
    this.heartbeat = setInterval(() => socket.emit('presence:heartbeat', {}), this.opts.heartbeatMs ?? 30_000);
  }

  /** Drops the connection without closing the agent: the socket reconnects and resumes. */
  simulateDrop(): void {
    this.socket?.io.engine.close();
  }

  close(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.socket?.close();
    this.socket = null;
  }

  private async dispatch(type: keyof AgentEvents, e: { event_id: string }) {
    // At-least-once delivery: the same event may come live and in a resume.
    if (this.seen.has(e.event_id)) return;
    this.seen.add(e.event_id);
    if (!this.lastEventId || compareEventIds(e.event_id, this.lastEventId) > 0) this.lastEventId = e.event_id;
    for (const h of this.handlers.get(type) ?? []) await h(e);
  }

  /** The server's answer at once: accepted with the bid, or refused with the reason. */
  async bid(contractId: string, b: { priceCents: number; etaSeconds: number; confidence: number; message?: string; replace?: boolean }): Promise<BidAnswer> {
    const res = await this.request('POST', '/mesh/bid', {
      contract_id: contractId,
      price_cents: b.priceCents,
      eta_seconds: b.etaSeconds,
      confidence: b.confidence,
      ...(b.message && { message: b.message }),
      ...(b.replace && { replace: true }),
    });
    if (res.ok) return { accepted: true, bid: res.body.bid };
    return { accepted: false, error: res.body.error };
  }

  async deliver(contractId: string, output: unknown): Promise<{ id: string; attempt: number }> {
    const res = await this.request('POST', '/mesh/deliver', { contract_id: contractId, output });
    if (!res.ok) throw new HermesApiError(res.status, res.body.error.code, res.body.error.message);
    return res.body.delivery;
  }

  async openContracts(): Promise<ContractOffer[]> {
    return (await this.must('GET', '/mesh/contracts')).data;
  }

  async startConversation(agentId: string, opts: { contractId?: string; subject?: string } = {}): Promise<{ id: string }> {
    return this.must('POST', '/a2a/conversations', { agent_id: agentId, ...(opts.contractId && { contract_id: opts.contractId }), ...(opts.subject && { subject: opts.subject }) });
  }

  async send(conversationId: string, body: unknown, type = 'text'): Promise<A2AMessage> {
    return this.must('POST', `/a2a/conversations/${conversationId}/messages`, { type, body });
  }

  async messages(conversationId: string): Promise<A2AMessage[]> {
    return (await this.must('GET', `/a2a/conversations/${conversationId}/messages`)).data;
  }

  async closeConversation(conversationId: string): Promise<void> {
    await this.must('POST', `/a2a/conversations/${conversationId}/close`);
  }

  private async must(method: string, path: string, body?: unknown) {
    const res = await this.request(method, path, body);
    if (!res.ok) throw new HermesApiError(res.status, res.body?.error?.code ?? 'HTTP', res.body?.error?.message ?? `HTTP ${res.status}`);
    return res.body;
  }

  private async request(method: string, path: string, body?: unknown): Promise<{ ok: boolean; status: number; body: any }> {
    const res = await fetch(`${this.opts.baseUrl}/api/v1${path}`, {
      method,
      headers: { 'X-API-Key': this.opts.apiKey, ...(body !== undefined && { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { ok: res.ok, status: res.status, body: text ? JSON.parse(text) : null };
  }
}
