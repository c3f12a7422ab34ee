/**
 * Interruptible long work. A Jupyter kernel is interrupted with SIGINT (the stop button, or
 * POST /api/kernels/<id>/interrupt). tslab then abandons the running cell, but the work the cell
 * started would go on computing: JavaScript cannot be stopped from outside. saelab's long loops
 * therefore call a stop point between batches:
 *
 *     const stopPoint = interruptible('SAE training');
 *     for (...) { await stopPoint(); ...one batch... }
 *
 * `await stopPoint()` yields to the event loop now and then (so the signal handler can run) and throws
 * `InterruptedError` at the first batch boundary after an interrupt, before anything of the next batch is
 * written; artifacts are written atomically, so nothing half-written is left and the next cell runs at once.
 * Work started after the interrupt is not affected.
 */
import { inNotebook } from './display';

/** Thrown at a batch boundary of work that the kernel interrupted. */
export class InterruptedError extends Error {
  constructor(readonly what: string, readonly detail = '') {
    super(`${what} interrupted${detail ? ` (${detail})` : ''}: stopped at a batch boundary; nothing partial was written`);
    this.name = 'InterruptedError';
  }
}

/** Interrupts seen so far (SIGINT in a notebook kernel, or `requestInterrupt()`). */
let interrupts = 0;
let listening = false;

/**
 * Count SIGINTs from now on. Done automatically inside a notebook kernel (where tslab already handles
 * SIGINT). Elsewhere (the CLI) Ctrl-C keeps its usual meaning of ending the process unless a caller
 * opts in here.
 */
export function listenForInterrupts(): void {
  if (listening) return;
  listening = true;
  process.on('SIGINT', () => { interrupts++; });
}

/** Interrupt all interruptible work running now, as a kernel interrupt does (tests, a UI's stop button). */
export function requestInterrupt(): void {
  interrupts++;
}

/** A stop point of one piece of long work: await it between batches. */
export type StopPoint = (detail?: string) => Promise<void>;

/** How often a stop point lets the event loop run (ms): often enough for a prompt stop, rare enough to cost nothing. */
const YIELD_EVERY_MS = 50;

/**
 * Start interruptible work named `what` (it names the work in the InterruptedError). Returns the stop
 * point to await between batches; `detail` (e.g. "step 120 of 1000") goes into the error message.
 */
export function interruptible(what: string): StopPoint {
  if (inNotebook()) listenForInterrupts();
  const startedAt = interrupts;
  let lastYield = Date.now();
  return async (detail?: string) => {
    if (Date.now() - lastYield >= YIELD_EVERY_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      lastYield = Date.now();
    }
    if (interrupts !== startedAt) throw new InterruptedError(what, detail);
  };
}

/** True for the error interruptible work throws when interrupted. */
export function isInterrupted(e: unknown): e is InterruptedError {
  return e instanceof Error && e.name === 'InterruptedError';
}
