import { parseArgs } from 'util';

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean; default?: string | boolean }>;

/** Parse `--flag value` options strictly; an unknown option is an error naming it and the usage. */
export function parseOptions<T extends OptionSpec>(argv: string[], options: T, usage: string): Record<keyof T, any> {
  try {
    const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
    return values as unknown as Record<keyof T, any>;
  } catch (e) {
    throw new Error(`${(e as Error).message}\n\n${usage}`);
  }
}

/** Require an option, with an error naming it. */
export function required<T>(value: T | undefined, flag: string, usage: string): T {
  if (value === undefined || value === '') throw new Error(`missing required option --${flag}\n\n${usage}`);
  return value;
}
