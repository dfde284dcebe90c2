import type { Findings } from './findings';
import type { Journal } from './journal';

// What clients saw at the HTTP level: no 5xx but 503 (a fault worth retrying), and every 503
// says when to retry.
export function verifyHttp(journal: Journal, f: Findings): void {
  f.check('5xx other than 503');
  f.check('503 without Retry-After');
  for (const x of journal.exchanges) {
    for (const a of x.attempts) {
      if (a.status >= 500 && a.status !== 503) {
        f.fail('5xx other than 503', `${new Date(a.sentAt).toISOString()} ${x.route} by ${x.actor} for ${x.contractId ?? '-'} → ${a.status} ${a.code ?? ''} ${a.message ?? ''}`);
      }
      if (a.status === 503 && !a.retryAfter) f.fail('503 without Retry-After', `${x.route} by ${x.actor} → 503 ${a.code ?? ''}`);
    }
  }
}
