// The event ids an agent has handled lately, to drop an event that arrives twice (live and in
// a resume: delivery is at least once). Bounded, because an agent runs for months: events come
// in order and a reconnect resumes after the last id handled, so a repeat is always recent and
// a window of the last few thousand ids catches every one.
export class RecentIds {
  private readonly ids = new Set<string>();
  private readonly ring: (string | undefined)[];
  private next = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
    this.ring = new Array(capacity);
  }

  /** Remembers `id`, forgetting the oldest beyond the capacity; false if it was already remembered. */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    const oldest = this.ring[this.next];
    if (oldest !== undefined) this.ids.delete(oldest);
    this.ring[this.next] = id;
    this.next = (this.next + 1) % this.capacity;
    this.ids.add(id);
    return true;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  get size(): number {
    return this.ids.size;
  }
}
