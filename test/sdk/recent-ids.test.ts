import { describe, expect, it } from 'vitest';
import { RecentIds } from '../../sdk/src/recent-ids';

describe("the SDK's dedupe window", () => {
  it('refuses an id it holds and forgets the oldest beyond its capacity', () => {
    const ids = new RecentIds(3);
    expect(['1-0', '2-0', '3-0'].map((id) => ids.add(id))).toEqual([true, true, true]);
    expect(ids.add('2-0')).toBe(false);
    expect(ids.add('4-0')).toBe(true);
    expect(ids.has('1-0')).toBe(false);
    expect(ids.size).toBe(3);
    // A repeat does not count as new, so it does not push anything out.
    expect(ids.add('3-0')).toBe(false);
    expect([ids.has('2-0'), ids.has('3-0'), ids.has('4-0')]).toEqual([true, true, true]);
  });

  it('stays at its capacity however many events an agent handles', () => {
    const ids = new RecentIds(10_000);
    for (let i = 0; i < 250_000; i++) ids.add(`${i}-0`);
    expect(ids.size).toBe(10_000);
    expect(ids.has('239999-0')).toBe(false);
    expect(ids.has('240000-0')).toBe(true);
  });
});
