import type { Cast } from './actors';
import type { Truth } from './collect';
import type { Findings } from './findings';

// Events: every status change is published (DELIVERED included) and the last one published is
// the status the contract ended in; an owner who subscribed right after the 201 heard every
// status published for the contract, through the API's restarts; contract:new reaches exactly
// the agents that may bid (every required capability), and each of them.
const CHECKS = [
  'status change not published',
  'published statuses not a lifecycle path',
  'last published status ≠ final status',
  'subscriber missed a status event',
  'contract:new to an agent lacking a capability',
  'contract:new missed by a capable agent',
];

// What each status may be followed by (AWARDED again: a re-award; FAILED from anywhere: a
// step that gave up). Repeats of one status (an event relayed twice) are allowed.
const NEXT: Record<string, string[]> = {
  BIDDING: ['AWARDED', 'EXPIRED', 'CANCELLED', 'FAILED'],
  AWARDED: ['IN_PROGRESS', 'CANCELLED', 'FAILED'],
  IN_PROGRESS: ['DELIVERED', 'AWARDED', 'CANCELLED', 'FAILED'],
  DELIVERED: ['SETTLED', 'AWARDED', 'FAILED'],
};

export function verifyEvents(truth: Truth, cast: Cast, f: Findings): void {
  for (const c of CHECKS) f.check(c);
  for (const [id, t] of truth.contracts) {
    if (!t.db) continue;
    const published = t.streamStatuses;
    const expected = new Set<string>([t.db.status]);
    if (t.db.awarded_at) expected.add('AWARDED');
    if (t.deliveries.length) expected.add('IN_PROGRESS').add('DELIVERED');
    for (const s of expected) if (!published.includes(s)) f.fail('status change not published', `${id}: no contract:status ${s} (published: ${published.join(' → ') || 'none'})`);
    const steps = published.filter((s, i) => s !== published[i - 1]);
    const wrongStep = steps.findIndex((s, i) => i > 0 && !NEXT[steps[i - 1]!]?.includes(s));
    if (wrongStep > 0) f.fail('published statuses not a lifecycle path', `${id}: ${steps.join(' → ')} (${steps[wrongStep - 1]} → ${steps[wrongStep]})`);
    if (published.length && published[published.length - 1] !== t.db.status) {
      f.fail('last published status ≠ final status', `${id}: ${published.join(' → ')}, ended ${t.db.status}`);
    }

    const owner = cast.owners.find((o) => o.id === t.db.user_id);
    if (owner?.ears.subscribed.has(id)) {
      const heard = owner.ears.statuses.get(id) ?? [];
      // BIDDING too: a subscription first gets what the contract published before it.
      const missed = [...new Set(published)].filter((s) => !heard.includes(s));
      if (missed.length) f.fail('subscriber missed a status event', `${id}: heard ${heard.join(' → ') || 'nothing'}, published ${published.join(' → ')}`);
    }

    const required = t.db.required_capabilities as string[];
    for (const agent of cast.all) {
      if (!agent.ears) continue;
      const may = required.every((c) => agent.capabilities.includes(c));
      const told = agent.ears.announced.has(id);
      if (told && !may) f.fail('contract:new to an agent lacking a capability', `${id} (needs ${required.join(',')}) told to ${agent.name} (${agent.capabilities.join(',')})`);
      if (!told && may) f.fail('contract:new missed by a capable agent', `${id} (needs ${required.join(',') || 'nothing'}) never reached ${agent.name} (told of ${agent.ears.announced.size} in all)`);
    }
  }
}
