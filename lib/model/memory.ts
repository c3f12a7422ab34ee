/**
 * The memory budget: how much this process may use ($SAELAB_MAX_MEMORY, a config's maxMemory, else
 * the machine's memory) and how much is free now (the budget less what the process already holds,
 * and never more than the kernel's MemAvailable). Loading checks a model fits before reading it;
 * stages size their batches from it.
 */
import * as fs from 'fs';
import * as os from 'os';
import { parseBytes } from './memoryFormat';

export { parseBytes, formatBytes } from './memoryFormat';

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

let collector: (() => void) | null | undefined;
let trimAllocator: (() => void) | undefined;

/** Give the C allocator's free pages back to the system after a collection (set by the native addon where it loads). */
export function setAllocatorTrim(fn: (() => void) | undefined): void {
  trimAllocator = fn;
}

/**
 * Collect garbage now (synchronously) when the JS buffers held, live or dead, pass `bytes`; a loop that makes a large
 * output per step calls this so dead outputs do not pile up before V8 collects them on its own. Returns whether it ran.
 */
export function collectGarbageOver(bytes: number): boolean {
  if (process.memoryUsage().arrayBuffers <= bytes) return false;
  const gc = garbageCollector();
  if (!gc) return false;
  gc();
  return true;
}

/** V8's collector (global.gc, or exposed once through a flag), or null where it cannot be reached. */
function garbageCollector(): (() => void) | null {
  if (collector === undefined) {
    collector = typeof global.gc === 'function' ? global.gc : null;
    if (!collector) {
      try {
        (require('v8') as typeof import('v8')).setFlagsFromString('--expose-gc');
        collector = (require('vm') as typeof import('vm')).runInNewContext('gc') as () => void;
      } catch {
        collector = null;
      }
    }
  }
  return collector;
}

/**
 * Run V8's garbage collector now, when it can be reached: a released model's tensor data is only
 * returned to the system when the JS buffers holding it are collected, so a stage that releases one
 * model to load the next collects first (else the freed model still counts as in use, and the next
 * load is refused or the process holds both). The buffers are freed by a task after the collection,
 * so this waits a moment (`settleMs`, 200 by default; 0 waits one turn of the event loop) and collects again.
 * Resolves to whether it ran.
 */
export async function collectGarbage(settleMs = 200): Promise<boolean> {
  const collector = garbageCollector();
  if (!collector) return false;
  collector();
  await new Promise((r) => (settleMs > 0 ? setTimeout(r, settleMs) : setImmediate(r)));
  collector();
  trimAllocator?.();
  return true;
}
