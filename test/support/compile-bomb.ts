// Compile bombs: valid WASI commands (`_start: () -> ()`, an exported `memory`) that are cheap
// to send and dear to compile. Written byte by byte so any size can be made without a toolchain.
//
// - `locals`: functions of straight-line arithmetic over many i64 locals, each read at random
//   and written back, so every value stays live and cranelift's register allocator works hard;
// - `blocks`: many functions of deeply nested blocks and branches (a wide, deep CFG each).
//
// Both are deterministic for a given size and seed; a different seed gives a different SHA-256
// (so no compile cache has seen it).

export type BombShape = 'locals' | 'blocks';

export interface BombOptions {
  /** Approximate size of the module in bytes. */
  bytes: number;
  shape?: BombShape;
  seed?: number;
  /** Size of each function body; the default spreads the module over many functions. */
  functionBytes?: number;
}

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

const bytesOf = (...parts: (number[] | Uint8Array)[]) => Buffer.concat(parts.map((p) => Buffer.from(p)));
const section = (id: number, content: Buffer) => bytesOf([id, ...uleb(content.length)], content);
const name = (s: string) => bytesOf(uleb(s.length), Buffer.from(s));

// A small xorshift so the bodies are not one repeated pattern (and the seed changes the bytes).
function rng(seed: number) {
  let x = seed >>> 0 || 0x9e3779b9;
  return (n: number) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

const LOCALS = 1000;
const END = 0x0b;

// local.get a; local.get b; i64.mul|add|xor; local.set c — ~9 bytes a step.
function localsBody(size: number, next: (n: number) => number): Buffer {
  const ops = [0x7e, 0x7c, 0x85]; // i64.mul, i64.add, i64.xor
  const code: number[] = [];
  // Each local starts as a load from memory, so nothing folds to a constant.
  for (let i = 0; i < LOCALS; i++) code.push(0x41, ...uleb(next(8192) * 8), 0x29, 3, 0, 0x21, ...uleb(i)); // i32.const; i64.load; local.set
  while (code.length < size) {
    code.push(0x20, ...uleb(next(LOCALS)), 0x20, ...uleb(next(LOCALS)), ops[next(3)]!, 0x21, ...uleb(next(LOCALS)));
  }
  // …and each ends as a store, so nothing is dead either.
  for (let i = 0; i < LOCALS; i++) code.push(0x41, ...uleb(i * 8), 0x20, ...uleb(i), 0x37, 3, 0); // i32.const; local.get; i64.store
  code.push(END);
  // One local declaration: LOCALS of i64.
  return bytesOf([1, ...uleb(LOCALS), 0x7e], code);
}

// block (×depth) with a br_if out of a random level at each depth, then the ends.
function blocksBody(size: number, next: (n: number) => number): Buffer {
  const code: number[] = [];
  while (code.length < size) {
    const depth = 200;
    for (let d = 0; d < depth; d++) {
      code.push(0x02, 0x40); // block (empty type)
      code.push(0x20, 0, 0x41, ...uleb(next(64)), 0x6a, 0x21, 0, 0x20, 0, 0x0d, ...uleb(next(d + 1))); // local0 += k; br_if (local0) l
    }
    for (let d = 0; d < depth; d++) code.push(END);
  }
  code.push(END);
  return bytesOf([1, 1, 0x7f], code); // one i32 local
}

/** A module of about `bytes` bytes that takes far longer and far more memory to compile than its size suggests. */
export function compileBomb({ bytes, shape = 'locals', seed = 1, functionBytes }: BombOptions): Buffer {
  const next = rng(seed);
  // Functions of ~64 KB (`locals`) or ~16 KB (`blocks`): enough to cost, and many of them so
  // parallel compilation has work for every core.
  const perFunction = Math.min(bytes, functionBytes ?? (shape === 'locals' ? 64 * 1024 : 16 * 1024));
  const count = Math.max(1, Math.round(bytes / perFunction));
  const bodies: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const body = shape === 'locals' ? localsBody(perFunction, next) : blocksBody(perFunction, next);
    bodies.push(bytesOf(uleb(body.length), body));
  }
  return bytesOf(
    [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    section(1, bytesOf([1, 0x60, 0, 0])), // one type: () -> ()
    section(3, bytesOf(uleb(count), new Array(count).fill(0))),
    section(5, bytesOf([1, 0x00, 1])), // one memory, min 1 page
    section(7, bytesOf([2], name('_start'), [0x00, 0], name('memory'), [0x02, 0])),
    section(10, bytesOf(uleb(count), ...bodies)),
  );
}
