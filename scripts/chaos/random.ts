// A seeded generator (mulberry32), so a run's mix of paths can be repeated with CHAOS_SEED.
// Timing under faults is never repeatable; which contract takes which path is.
export function seededRandom(seed: number) {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    chance: (p: number) => next() < p,
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
    /** Picks by weight: [[value, weight], …]. */
    weighted: <T>(xs: readonly (readonly [T, number])[]): T => {
      let r = next() * xs.reduce((s, [, w]) => s + w, 0);
      for (const [x, w] of xs) if ((r -= w) < 0) return x;
      return xs[xs.length - 1]![0];
    },
  };
}
export type Random = ReturnType<typeof seededRandom>;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
