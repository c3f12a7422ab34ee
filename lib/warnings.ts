/**
 * Warnings that reach the user in Node (process warnings: printed once on stderr, catchable with
 * process.on('warning')) and in a browser (the console).
 */
export function emitWarning(message: string, type = 'Warning'): void {
  const proc = (globalThis as { process?: { emitWarning?: (m: string, t?: string) => void } }).process;
  if (proc?.emitWarning) proc.emitWarning(message, type);
  else console.warn(`${type}: ${message}`);
}
