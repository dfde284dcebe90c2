// Every request the run's clients made and every answer they got, kept for the checks.

/** One try of a request. status 0: no HTTP answer (refused connection, reset, timeout). */
export interface Attempt {
  sentAt: number;
  ms: number;
  status: number;
  error?: string;
  code?: string;
  /** The error message of a 5xx, kept as evidence. */
  message?: string;
  retryAfter?: string | null;
}

/** One logical request: the same Idempotency-Key across its retries. */
export interface Exchange {
  seq: number;
  actor: string;
  method: string;
  /** The route's shape, e.g. `POST /contracts/:id/accept`. */
  route: string;
  key?: string;
  body?: unknown;
  contractId?: string;
  /** What the client had last seen of the contract (its owner's or agent's latest GET) when it sent this. */
  sawStatus?: string;
  attempts: Attempt[];
  /** The definitive answer (a 2xx, 3xx or 4xx other than 429), or null if the client gave up. */
  final: { status: number; body: any; at: number } | null;
  /** A deliberate second send of an answered request, with the same key (and body, unless keyReuse). */
  probeOf?: number;
  keyReuse?: boolean;
}

export const isDefinitive = (status: number) => status !== 0 && status < 500 && status !== 429;
export const is2xx = (status: number | undefined) => status !== undefined && status >= 200 && status < 300;

export class Journal {
  readonly exchanges: Exchange[] = [];
  private seq = 0;

  open(e: Omit<Exchange, 'seq' | 'attempts' | 'final'>): Exchange {
    const x: Exchange = { ...e, seq: ++this.seq, attempts: [], final: null };
    this.exchanges.push(x);
    return x;
  }

  forContract(contractId: string): Exchange[] {
    return this.exchanges.filter((x) => x.contractId === contractId);
  }

  /** Every HTTP answer (or failure to get one) by status, over all attempts. */
  statusCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const x of this.exchanges) {
      for (const a of x.attempts) {
        const k = a.status === 0 ? `no answer (${a.error})` : String(a.status);
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
    }
    return counts;
  }
}
