/**
 * The memory budget in a browser (twin of memory.ts): no process or system memory to read, so the
 * budget is the configured limit (setMemoryLimit) or none, and everything of it counts as free.
 */
import { parseBytes, formatBytes } from './memoryFormat';

export { parseBytes, formatBytes };

export interface MemoryBudget {
  limit: number;
  source: string;
  used: number;
  free: number;
}

let configured: { bytes: number; source: string } | null = null;

/** Set the limit (null clears it). */
export function setMemoryLimit(value: string | number | null, source = 'config maxMemory'): void {
  configured = value === null ? null : { bytes: parseBytes(value, source), source };
}

/** What a page can learn: nothing; the browser's memory is unknown, so without a limit nothing is refused. */
export function systemAvailable(): number {
  return Number.POSITIVE_INFINITY;
}

/** The current budget: the configured limit, else unbounded. */
export function memoryBudget(): MemoryBudget {
  if (configured) return { limit: configured.bytes, source: configured.source, used: 0, free: configured.bytes };
  return { limit: Number.POSITIVE_INFINITY, source: 'the browser (no limit known)', used: 0, free: Number.POSITIVE_INFINITY };
}
