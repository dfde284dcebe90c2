import { readFileSync, readdirSync } from 'node:fs';

// CPU time of processes from /proc (user + system, in ms), to split a phase's CPU by process.
const TICK_MS = 10; // USER_HZ is 100 on Linux

function statOf(pid: number): { ppid: number; ms: number } | null {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), ms: (Number(f[11]) + Number(f[12])) * TICK_MS };
  } catch {
    return null;
  }
}

/** The process and its descendants: Postgres' backends are children of the postmaster. */
export function cpuMs(rootPid: number): number {
  const stats = new Map<number, { ppid: number; ms: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = statOf(Number(name));
    if (s) stats.set(Number(name), s);
  }
  let total = 0;
  const wanted = new Set([rootPid]);
  // Parents have lower pids most of the time; loop until no process is added.
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, s] of stats) {
      if (!wanted.has(pid) && wanted.has(s.ppid)) {
        wanted.add(pid);
        grew = true;
      }
    }
  }
  for (const pid of wanted) total += stats.get(pid)?.ms ?? 0;
  return total;
}

export type CpuSnapshot = Record<string, number>;

export function snapshot(pids: Record<string, number>): CpuSnapshot {
  const out: CpuSnapshot = {};
  for (const [name, pid] of Object.entries(pids)) out[name] = name === 'bench' ? Math.round(process.cpuUsage().user / 1000 + process.cpuUsage().system / 1000) : cpuMs(pid);
  return out;
}

export function diff(after: CpuSnapshot, before: CpuSnapshot): CpuSnapshot {
  const out: CpuSnapshot = {};
  for (const k of Object.keys(after)) out[k] = after[k]! - (before[k] ?? 0);
  return out;
}
