import { parseArgs } from 'util';
import { ArgumentError } from '../io/errors';

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean; default?: string | boolean }>;

/** Parse `--flag value` options strictly; an unknown option is an error naming it and the usage. */
export function parseOptions<T extends OptionSpec>(argv: string[], options: T, usage: string): Record<keyof T, any> {
  try {
    const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
    return values as unknown as Record<keyof T, any>;
  } catch (e) {
    throw new ArgumentError(`${(e as Error).message}\n\n${usage}`);
  }
}

/** Require an option, with an error naming it. */
export function required<T>(value: T | undefined, flag: string, usage: string): T {
  if (value === undefined || value === '') throw new ArgumentError(`missing required option --${flag}\n\n${usage}`);
  return value;
}

/**
 * A whole number given as plain decimal digits (no 1e3, 0x10, 2.0, spaces or signs, unless `min` < 0
 * allows a leading '-'); `undefined` gives `dflt`. Errors (ArgumentError) name the flag.
 */
export function parseIntegerArg(v: string | undefined, flag: string, opts: { min?: number; max?: number; dflt?: number } = {}): number {
  if (v === undefined) {
    if (opts.dflt === undefined) throw new ArgumentError(`missing required option --${flag}`);
    return opts.dflt;
  }
  const min = opts.min ?? 0;
  const ok = (min < 0 ? /^-?\d+$/ : /^\d+$/).test(v);
  const n = ok ? Number(v) : NaN;
  if (!ok || !Number.isSafeInteger(n) || n < min || (opts.max !== undefined && n > opts.max)) {
    const range = opts.max !== undefined ? `between ${min} and ${opts.max}` : min === 1 ? 'a positive' : min === 0 ? 'a non-negative' : `at least ${min}, a`;
    throw new ArgumentError(`--${flag} must be ${opts.max !== undefined ? `a whole number ${range}` : `${range} whole number`} written in decimal digits, got '${v}'`);
  }
  return n;
}

/**
 * A finite decimal number (1e-3 and 0.5 are fine; hex, Infinity, empty or trailing text are not), in
 * [min, max] (`exclusiveMin`: > min). `undefined` gives `dflt`. Errors (ArgumentError) name the flag.
 */
export function parseNumberArg(v: string | undefined, flag: string, opts: { min?: number; exclusiveMin?: boolean; max?: number; dflt?: number } = {}): number {
  if (v === undefined) {
    if (opts.dflt === undefined) throw new ArgumentError(`missing required option --${flag}`);
    return opts.dflt;
  }
  const n = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v) ? Number(v) : NaN;
  const lo = opts.min ?? -Infinity;
  if (!Number.isFinite(n) || (opts.exclusiveMin ? !(n > lo) : !(n >= lo)) || (opts.max !== undefined && n > opts.max)) {
    const range = [opts.min !== undefined ? `${opts.exclusiveMin ? '>' : '>='} ${opts.min}` : '', opts.max !== undefined ? `<= ${opts.max}` : ''].filter(Boolean).join(' and ');
    throw new ArgumentError(`--${flag} must be a finite number${range ? ` ${range}` : ''}, got '${v}'`);
  }
  return n;
}
