/**
 * The errors saelab raises on purpose. Each message names the file, field or argument at fault and
 * what to do; callers (CLI, notebooks, fuzz tests) can tell them from bugs with `instanceof SaelabError`.
 */
export class SaelabError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A config file or value that is malformed, out of range, or unknown (names the file and key). */
export class ConfigError extends SaelabError {}

/** A command-line argument that is malformed or out of range (names the flag). */
export class ArgumentError extends SaelabError {}

/** NaN or infinite numbers where finite ones are required (names the tensor, file or step). */
export class NonFiniteError extends SaelabError {}

/** A folder saelab may not use: not created by saelab and not empty (names the folder). */
export class FolderError extends SaelabError {}

/** A value as it appears in an error message: JSON, shortened; never throws (deeply nested or cyclic values too). */
export function describeValue(v: unknown, max = 80): string {
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch {
    s = undefined;
  }
  if (s === undefined) s = Array.isArray(v) ? '[...]' : v && typeof v === 'object' ? '{...}' : String(v);
  return s.length > max ? `${s.slice(0, max)}...` : s;
}
