/** Memory sizes as users write and read them (shared by memory.ts and its browser twin). */

/** "20G", "20GB", "20GiB", "512M", "1.5e10" -> bytes (G/M/K: powers of 1024, as memory is sized). */
export function parseBytes(s: string | number, what = 'memory size'): number {
  if (typeof s === 'number') {
    if (!(s > 0)) throw new Error(`${what} must be positive, got ${s}`);
    return s;
  }
  const m = /^\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kmgt]?)(i?b)?\s*$/i.exec(s);
  if (!m) throw new Error(`${what} '${s}' is not a size like 20G, 512M or 21474836480`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const v = Number(m[1]) * unit;
  if (!(v > 0)) throw new Error(`${what} must be positive, got '${s}'`);
  return v;
}

/** "14.6 GB" (decimal gigabytes, as disk and memory tools print sizes to users). */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(0)} MB`;
  return `${Math.round(bytes / 1e3)} kB`;
}
