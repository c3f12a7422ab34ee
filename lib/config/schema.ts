/**
 * A tiny config validator: a config is checked against a defaults object of the same shape.
 * Unknown keys (by own property: "constructor" or "__proto__" are unknown too) are errors naming the key
 * path; a value whose type differs from the default's is an error; `null` is accepted only where the
 * default is null or the path is listed as nullable; `null` defaults accept any value (checked by the
 * caller); arrays replace the default whole, their elements checked against the default's first element.
 */
import { ConfigError, describeValue } from '../io/errors';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);
const describe = (k: string): string => (k === 'array' ? 'an array' : k === 'object' ? 'an object' : `a ${k}`);
const show = (v: unknown): string => describeValue(v);

/** An array element must be like the template (the default's first element): same kind; objects with exactly its keys. */
function checkLike(template: unknown, value: unknown, where: string, path: string): void {
  const tk = kind(template);
  const vk = kind(value);
  if (tk === 'null') return;
  if (vk !== tk) throw new ConfigError(`${where}: config key '${path}' must be ${describe(tk)}, got ${show(value)}`);
  if (tk !== 'object') return;
  const t = template as Record<string, unknown>;
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v)) if (!hasOwn(t, key)) throw new ConfigError(`${where}: unknown config key '${path}.${key}' (known keys here: ${Object.keys(t).join(', ')})`);
  for (const key of Object.keys(t)) {
    if (!hasOwn(v, key)) throw new ConfigError(`${where}: '${path}' is missing '${key}' (each entry needs ${Object.keys(t).join(', ')})`);
    checkLike(t[key], v[key], where, `${path}.${key}`);
  }
}

/** Deep-merge `value` over `defaults`, validating keys and types; `where` names the source in errors. */
export function mergeWithDefaults<T>(defaults: T, value: unknown, where: string, path = '', nullable: ReadonlySet<string> = new Set()): T {
  if (value === undefined) return structuredClone(defaults);
  const dk = kind(defaults);
  const vk = kind(value);
  if (dk === 'null') return structuredClone(value) as T;
  if (vk === 'null') {
    if (nullable.has(path)) return null as T;
    throw new ConfigError(`${where}: config key '${path || '(root)'}' must be ${describe(dk)}, got null`);
  }
  if (dk === 'object') {
    if (vk !== 'object') throw new ConfigError(`${where}: '${path || '(root)'}' must be an object, got ${show(value)}`);
    const d = defaults as Record<string, unknown>;
    const v = value as Record<string, unknown>;
    for (const key of Object.keys(v)) {
      if (key.startsWith('$') || key === '//') continue; // $schema, comments
      if (!hasOwn(d, key)) {
        const known = Object.keys(d).join(', ');
        throw new ConfigError(`${where}: unknown config key '${path ? `${path}.` : ''}${key}' (known keys here: ${known})`);
      }
    }
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(d)) out[key] = mergeWithDefaults(d[key], hasOwn(v, key) ? v[key] : undefined, where, path ? `${path}.${key}` : key, nullable);
    return out as T;
  }
  if (vk !== dk) throw new ConfigError(`${where}: config key '${path}' must be ${describe(dk)}, got ${show(value)}`);
  if (dk === 'array' && (defaults as unknown[]).length > 0) (value as unknown[]).forEach((x, i) => checkLike((defaults as unknown[])[0], x, where, `${path}[${i}]`));
  return structuredClone(value) as T;
}
