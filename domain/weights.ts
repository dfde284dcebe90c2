// Award weights are integer basis points that sum to exactly 10000 (100%).
export interface Weights {
  price: number;
  performance: number;
  speed: number;
  reputation: number;
}

export const BPS = 10_000;
export const DEFAULT_WEIGHTS: Readonly<Weights> = Object.freeze({ price: 2500, performance: 2500, speed: 2500, reputation: 2500 });

export function weightsTotal(w: Weights): number {
  return w.price + w.performance + w.speed + w.reputation;
}
