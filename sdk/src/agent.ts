import { io, type Socket } from 'socket.io-client';
import type { components, operations } from './api-types.js';
import { AGENT_EVENTS, compareEventIds, type AgentEvents } from './events.js';
import { RecentIds } from './recent-ids.js';

// The Hermes agent SDK: connect with an API key, hear about work over Socket.IO (reconnecting
// with exponential backoff and resuming from the last event seen), bid and deliver over HTTP,
// heartbeat for presence, talk to other agents. Options are TypeScript arguments; every JSON
// body sent and received is the API's own, snake_case, typed from its OpenAPI document.

type Schemas = components['schemas'];
type JsonBody<O extends keyof operations> = operations[O] extends { requestBody: { content: { 'application/json': infer B } } } ? B : never;

export type OpenContract = Schemas['OpenContract'];
export type AcceptedBid = Schemas['AcceptedBid'];
export type DeliveryReceipt = Schemas['Delivered']['delivery'];
export type Conversation = Schemas['Conversation'];
export type Message = Schemas['Message'];
export type MessageType = Message['type'];
export type ErrorCode = Schemas['Error']['error']['code'];
/** The API's error envelope's `error`; HTTP_ERROR when an answer carried none (a proxy's 502). */
export type ApiError = Omit<Schemas['Error']['error'], 'code'> & { code: ErrorCode | 'HTTP_ERROR' };

export type BidAnswer = { accepted: true; bid: AcceptedBid } | { accepted: false; error: ApiError };

export interface BidOptions {
  priceCents: number;
  etaSeconds: number;
  /** 0 to 1. */
  confidence: number;
  message?: string;
  /** Replace this agent's earlier bid (otherwise a second bid is refused: DUPLICATE_BID). */
  replace?: boolean;
}

export interface HermesAgentOptions {
  /** The API's origin, e.g. http://127.0.0.1:3000. */
  baseUrl: string;
  apiKey: string;
  /** Presence heartbeat period; the server marks an agent offline after about three missed. */
  heartbeatMs?: number;
  /** Reconnection backoff: starts here, doubles (with jitter) up to maxReconnectDelayMs. */
  reconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  /** A handler threw or rejected; by default logged to stderr (the agent carries on). */
  onError?: (err: unknown, event: keyof AgentEvents) => void;
}

export class HermesApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode | 'HTTP_ERROR',
    message: string,
    readonly details?: ApiError['details'],
  ) {
    super(message);
    this.name = 'HermesApiError';
  }
}

// Enough to catch every repeat: events arrive in order and a reconnect resumes after the last
// id handled, so a duplicate is never older than the last few thousand events.
const DEDUPE_WINDOW = 10_000;

type Handler = (e: never) => void | Promise<void>;

export class HermesAgent {
  private socket: Socket | null = null;
  private lastEventId: string | null = null;
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private readonly handlers = new Map<keyof AgentEvents, Handler[]>();
  private readonly seen = new RecentIds(DEDUPE_WINDOW);

  constructor(private readonly opts: HermesAgentOptions) {}

  on<K extends keyof AgentEvents>(type: K, handler: (e: AgentEvents[K]) => void | Promise<void>): this {
    this.handlers.set(type, [...(this.handlers.get(type) ?? []), handler as Handler]);
    return this;
  }

  /** Connects (refusing a bad key with an error) and keeps reconnecting on its own afterwards. */
  async connect(): Promise<void> {
    const socket = io(this.opts.baseUrl, {
      transports: ['websocket'],
      // Re-read on every (re)connect: resume after the last event this agent handled.
      auth: (cb) => cb({ api_key: this.opts.apiKey, ...(this.lastEventId && { last_event_id: this.lastEventId }) }),
      reconnection: true,
      reconnectionDelay: this.opts.reconnectDelayMs ?? 500,
      reconnectionDelayMax: this.opts.maxReconnectDelayMs ?? 10_000,
      randomizationFactor: 0.5,
    });
    this.socket = socket;
    for (const type of AGENT_EVENTS) socket.on(type, (e: { event_id: string }) => void this.dispatch(type, e));
    // Before any event, resume from where the stream stood when this agent was first connected,
    // so that what is published while it is away is replayed on its reconnect.
    socket.on('ready', (r: { last_event_id?: string }) => {
      if (!this.lastEventId && r?.last_event_id) this.lastEventId = r.last_event_id;
    });
    // No id: a gap is news about the connection, not an event to dedupe or resume from.
    socket.on('events:gap', (e: AgentEvents['events:gap']) => void this.run('events:gap', e));
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

  close(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    this.socket?.close();
    this.socket = null;
  }

  private async dispatch(type: keyof AgentEvents, e: { event_id: string }) {
    // At-least-once delivery: the same event may come live and in a resume.
    if (!this.seen.add(e.event_id)) return;
    if (!this.lastEventId || compareEventIds(e.event_id, this.lastEventId) > 0) this.lastEventId = e.event_id;
    await this.run(type, e);
  }

  private async run(type: keyof AgentEvents, e: unknown) {
    for (const h of this.handlers.get(type) ?? []) {
      try {
        await (h as (e: unknown) => void | Promise<void>)(e);
      } catch (err) {
        // A rejected handler must not become an unhandled rejection that ends the process.
        (this.opts.onError ?? ((err, t) => console.error(`hermes agent: ${t} handler failed:`, err)))(err, type);
      }
    }
  }

  /** The server's answer at once: accepted with the bid, or refused with the reason. */
  async bid(contractId: string, b: BidOptions): Promise<BidAnswer> {
    const body: JsonBody<'postMeshBid'> = {
      contract_id: contractId,
      price_cents: b.priceCents,
      eta_seconds: b.etaSeconds,
      confidence: b.confidence,
      ...(b.message !== undefined && { message: b.message }),
      ...(b.replace && { replace: true }),
    };
    const res = await this.request('POST', '/mesh/bid', body);
    if (res.ok) return { accepted: true, bid: (res.body as Schemas['BidAccepted']).bid };
    return { accepted: false, error: errorOf(res) };
  }

  /** Delivers the work (any JSON) for a contract this agent was awarded. */
  async deliver(contractId: string, output: unknown): Promise<DeliveryReceipt> {
    const body: JsonBody<'postMeshDeliver'> = { contract_id: contractId, output };
    return (await this.must<Schemas['Delivered']>('POST', '/mesh/deliver', body)).delivery;
  }

  /** Contracts open for bids that this agent may bid on (after an events:gap, say). */
  async openContracts(): Promise<OpenContract[]> {
    return (await this.must<Schemas['OpenContractList']>('GET', '/mesh/contracts')).data;
  }

  async startConversation(agentId: string, opts: { contractId?: string; subject?: string } = {}): Promise<Conversation> {
    const body: JsonBody<'postA2aConversations'> = { agent_id: agentId, ...(opts.contractId && { contract_id: opts.contractId }), ...(opts.subject && { subject: opts.subject }) };
    return this.must<Conversation>('POST', '/a2a/conversations', body);
  }

  async send(conversationId: string, body: unknown, type: MessageType = 'text'): Promise<Message> {
    const message: JsonBody<'postA2aConversationsByIdMessages'> = { type, body };
    return this.must<Message>('POST', `/a2a/conversations/${encodeURIComponent(conversationId)}/messages`, message);
  }

  /** The conversation's first page of messages, oldest first. */
  async messages(conversationId: string): Promise<Message[]> {
    return (await this.must<Schemas['MessagePage']>('GET', `/a2a/conversations/${encodeURIComponent(conversationId)}/messages`)).data;
  }

  async closeConversation(conversationId: string): Promise<void> {
    await this.must('POST', `/a2a/conversations/${encodeURIComponent(conversationId)}/close`);
  }

  private async must<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.request(method, path, body);
    if (!res.ok) {
      const error = errorOf(res);
      throw new HermesApiError(res.status, error.code, error.message, error.details);
    }
    return res.body as T;
  }

  private async request(method: string, path: string, body?: unknown): Promise<{ ok: boolean; status: number; body: unknown }> {
    const res = await fetch(`${this.opts.baseUrl.replace(/\/+$/, '')}/api/v1${path}`, {
      method,
      headers: { 'X-API-Key': this.opts.apiKey, ...(body !== undefined && { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // Not JSON (a proxy's error page): errorOf says HTTP_ERROR with the status.
    }
    return { ok: res.ok, status: res.status, body: parsed };
  }
}

function errorOf(res: { status: number; body: unknown }): ApiError {
  const error = (res.body as Schemas['Error'] | null)?.error;
  return error && typeof error.code === 'string' ? error : { code: 'HTTP_ERROR', message: `HTTP ${res.status}` };
}
