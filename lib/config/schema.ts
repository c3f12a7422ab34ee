/**
 * A tiny config validator: a config is checked against a defaults object of the same shape.
 * Unknown keys are errors naming the key path; a value whose type differs from the default's is an
 * error; `null` defaults accept any value; arrays replace the default whole.
 */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Deep-merge `value` over `defaults`, validating keys and types; `where` names the source in errors. */
export function mergeWithDefaults<T>(defaults: T, value: unknown, where: string, path = ''): T {
  if (value === undefined) return structuredClone(defaults);
  const dk = kind(defaults);
  const vk = kind(value);
  if (dk === 'null') return structuredClone(value) as T;
  if (dk === 'object') {
    if (vk !== 'object') throw new Error(`${where}: '${path || '(root)'}' must be an object, got ${vk}`);
    const d = defaults as Record<string, unknown>;
    const v = value as Record<string, unknown>;
    for (const key of Object.keys(v)) {
      if (key.startsWith('$') || key === '//') continue; // $schema, comments
      if (!(key in d)) {
        const known = Object.keys(d).join(', ');
        throw new Error(`${where}: unknown config key '${path ? `${path}.` : ''}${key}' (known keys here: ${known})`);
      }
    }
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(d)) out[key] = mergeWithDefaults(d[key], v[key], where, path ? `${path}.${key}` : key);
    return out as T;
  }
  if (vk !== dk && !(vk === 'null')) throw new Error(`${where}: config key '${path}' must be ${dk === 'array' ? 'an array' : `a ${dk}`}, got ${JSON.stringify(value)}`);
  return structuredClone(value) as T;
}
