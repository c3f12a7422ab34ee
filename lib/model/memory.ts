/**
 * The memory budget: how much this process may use ($SAELAB_MAX_MEMORY, a config's maxMemory, else
 * the machine's memory) and how much is free now (the budget less what the process already holds,
 * and never more than the kernel's MemAvailable). Loading checks a model fits before reading it;
 * stages size their batches from it.
 */
import * as fs from 'fs';
import * as os from 'os';

/** "20G", "20GB", "20GiB", "512M", "1.5e10" -> bytes (G/M/K: powers of 1024, as memory is sized). */
export function parseBytes(s: string | number, what = 'memory size'): number {
  if (typeof s === 'number') {
    if (!(s > 0)) throw new Error(`${what} must be positive, got ${s}`);
    return s;
  }
  const m = /^\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kmgt]?)(i?b)?\s*$/i.exec(s);
  if (!m) throw new Error(`${what} '${s}' is not a size like 20G, 512M or 21474836480`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const v = Number(m[1]) * unit;
  if (!(v > 0)) throw new Error(`${what} must be positive, got '${s}'`);
  return v;
}

/** "14.6 GB" (decimal gigabytes, as disk and memory tools print sizes to users). */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(0)} MB`;
  return `${Math.round(bytes / 1e3)} kB`;
}

/** The kernel's estimate of memory available to new allocations (Linux MemAvailable), else os.freemem(). */
export function systemAvailable(): number {
  try {
    const m = /MemAvailable:\s+(\d+)\s*kB/.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch { /* not Linux */ }
  return os.freemem();
}

export interface MemoryBudget {
  /** bytes this process may use in all */
  limit: number;
  /** where the limit came from */
  source: string;
  /** resident bytes now */
  used: number;
  /** min(limit - used, MemAvailable): what a new allocation may take */
  free: number;
}

let configured: { bytes: number; source: string } | null = null;

/** Set the limit from an experiment config's maxMemory (null clears it); $SAELAB_MAX_MEMORY still wins. */
export function setMemoryLimit(value: string | number | null, source = 'config maxMemory'): void {
  configured = value === null ? null : { bytes: parseBytes(value, source), source };
}

/** The current budget. */
export function memoryBudget(): MemoryBudget {
  const env = process.env.SAELAB_MAX_MEMORY;
  let limit: number;
  let source: string;
  if (env && env.trim()) { limit = parseBytes(env, 'SAELAB_MAX_MEMORY'); source = `SAELAB_MAX_MEMORY=${env.trim()}`; }
  else if (configured) { limit = configured.bytes; source = configured.source; }
  else { limit = os.totalmem(); source = 'the machine\'s memory'; }
  const used = process.memoryUsage.rss();
  return { limit, source, used, free: Math.max(0, Math.min(limit - used, systemAvailable())) };
}
