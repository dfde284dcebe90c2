import { io, type Socket } from 'socket.io-client';
import { compareEventIds } from '../../lib/events';
import { HermesAgent } from '../../sdk/src';
import { apiBase } from './settings';

// What the run's clients heard over Socket.IO. Agents listen with the SDK (which reconnects and
// resumes on its own); owners subscribe to each contract right after POST /contracts answers
// and resume after the API's restarts with the last event id and their subscriptions.

/** An agent's ears: every contract:new it was told of. */
export class AgentEars {
  readonly announced = new Set<string>();
  private readonly sdk: HermesAgent;

  constructor(apiKey: string) {
    this.sdk = new HermesAgent({ baseUrl: apiBase, apiKey, reconnectDelayMs: 300, maxReconnectDelayMs: 2000 });
    this.sdk.on('contract:new', (c) => void this.announced.add(c.contract_id));
  }

  connect(): Promise<void> {
    return this.sdk.connect();
  }

  close(): void {
    this.sdk.close();
  }
}

/** An owner's ears: every contract:status (and delivery) event per subscribed contract. */
export class OwnerEars {
  readonly statuses = new Map<string, string[]>();
  readonly subscribed = new Set<string>();
  /** Followed, but the subscription (and with it the contract's history) not yet confirmed. */
  private readonly pending = new Set<string>();
  /** Subscriptions the server refused (contract not found right after a 201). */
  readonly refused: { contractId: string; answer: unknown }[] = [];
  private readonly seen = new Set<string>();
  private lastEventId: string | null = null;
  private readonly socket: Socket;
  private readonly firstReady: Promise<void>;

  constructor(token: string) {
    this.socket = io(apiBase, {
      transports: ['websocket'],
      // Re-read on every reconnect: resume after the last event, back in every contract's room.
      auth: (cb) => cb({ token, contracts: [...this.subscribed], ...(this.lastEventId && { last_event_id: this.lastEventId }) }),
      reconnectionDelay: 300,
      reconnectionDelayMax: 2000,
    });
    // The socket connects at once: listen for its first `ready` now, not when connect() is called.
    this.firstReady = new Promise((resolve, reject) => {
      this.socket.once('ready', () => resolve());
      this.socket.once('connect_error', reject);
    });
    // Back after a disconnect: a contract followed meanwhile is in the handshake's rooms, but its
    // events from before the resume point are not replayed; subscribing gives its history.
    this.socket.on('ready', () => {
      for (const id of [...this.pending]) void this.subscribe(id);
    });
    this.socket.on('contract:status', (e: { contract_id: string; status: string; event_id: string }) => {
      if (this.seen.has(e.event_id)) return;
      this.seen.add(e.event_id);
      if (!this.lastEventId || compareEventIds(e.event_id, this.lastEventId) > 0) this.lastEventId = e.event_id;
      this.statuses.set(e.contract_id, [...(this.statuses.get(e.contract_id) ?? []), e.status]);
    });
    for (const type of ['bid:new', 'delivery:new', 'execution:progress']) {
      this.socket.on(type, (e: { event_id: string }) => {
        if (!this.lastEventId || compareEventIds(e.event_id, this.lastEventId) > 0) this.lastEventId = e.event_id;
      });
    }
  }

  connect(): Promise<void> {
    return this.firstReady;
  }

  /**
   * Subscribes now if connected, else once back (`ready`). An UNAVAILABLE answer (Postgres or
   * Redis down for a moment) is retried; no answer means the API went away: `ready` retries.
   */
  async subscribe(contractId: string): Promise<void> {
    this.subscribed.add(contractId);
    this.pending.add(contractId);
    for (let attempt = 0; attempt < 40 && this.socket.connected && this.pending.has(contractId); attempt++) {
      let answer: { ok?: boolean; error?: { code?: string } };
      try {
        answer = (await this.socket.timeout(5000).emitWithAck('subscribe', { contract_id: contractId })) as typeof answer;
      } catch {
        return; // no ack: the reconnect's `ready` subscribes again
      }
      if (answer?.ok) {
        this.pending.delete(contractId);
        return;
      }
      if (answer?.error?.code !== 'UNAVAILABLE') {
        this.pending.delete(contractId);
        this.refused.push({ contractId, answer });
        return;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  close(): void {
    this.socket.close();
  }
}
