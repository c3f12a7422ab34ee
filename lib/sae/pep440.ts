/**
 * Enough of PEP 440 to decide, as SAELens does with `packaging.version.Version`, whether a cfg's
 * sae_lens_version is valid and whether it is at least 6.0.0rc0.
 */
export interface Pep440 {
  epoch: number;
  release: number[];
  /** [phase rank (a=0, b=1, rc=2), number] or undefined */
  pre?: [number, number];
  post?: number;
  dev?: number;
}

const PATTERN = new RegExp(
  '^\\s*v?(?:(\\d+)!)?(\\d+(?:\\.\\d+)*)' +
  '(?:[-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?(\\d+)?)?' +
  '(?:(?:-(\\d+))|(?:[-_.]?(post|rev|r)[-_.]?(\\d+)?))?' +
  '(?:[-_.]?(dev)[-_.]?(\\d+)?)?' +
  '(?:\\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?\\s*$',
  'i',
);

/** Parse a PEP 440 version; undefined when the string is not one. */
export function parsePep440(v: string): Pep440 | undefined {
  const m = PATTERN.exec(v);
  if (!m) return undefined;
  const out: Pep440 = { epoch: m[1] ? Number(m[1]) : 0, release: m[2].split('.').map(Number) };
  if (m[3]) {
    const p = m[3].toLowerCase();
    const rank = p === 'a' || p === 'alpha' ? 0 : p === 'b' || p === 'beta' ? 1 : 2;
    out.pre = [rank, m[4] ? Number(m[4]) : 0];
  }
  if (m[5] !== undefined) out.post = Number(m[5]);
  else if (m[6]) out.post = m[7] ? Number(m[7]) : 0;
  if (m[8]) out.dev = m[9] ? Number(m[9]) : 0;
  return out;
}

/** Compare two PEP 440 versions (-1, 0, 1); throws on an invalid one. Local labels are ignored. */
export function comparePep440(a: string, b: string): number {
  const x = parsePep440(a);
  const y = parsePep440(b);
  if (!x) throw new Error(`invalid PEP 440 version ${JSON.stringify(a)}`);
  if (!y) throw new Error(`invalid PEP 440 version ${JSON.stringify(b)}`);
  return compareKeys(sortKey(x), sortKey(y));
}

function sortKey(v: Pep440): number[] {
  const rel = v.release.slice();
  while (rel.length > 1 && rel[rel.length - 1] === 0) rel.pop();
  // pre: a dev-only release sorts before any pre-release; no pre sorts after all pre-releases
  const pre = v.pre ? v.pre : v.post === undefined && v.dev !== undefined ? [-1, 0] : [Infinity, 0];
  const post = v.post === undefined ? -1 : v.post;
  const dev = v.dev === undefined ? Infinity : v.dev;
  // encode the release with its length so [1,2] and [1,2,1] compare in order
  const padded = rel.concat(new Array(Math.max(0, 16 - rel.length)).fill(0));
  return [v.epoch, ...padded, pre[0], pre[1], post, dev];
}

function compareKeys(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x < y) return -1;
    if (x > y) return 1;
  }
  return 0;
}
