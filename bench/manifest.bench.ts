/**
 * What stage reuse checks cost: writing a manifest (size, mtime and SHA-256 of each artifact), the reuse
 * check when nothing changed (size + mtime only), and the check after an artifact's mtime changed (a full
 * rehash), against writing the artifact itself; plus the throughput of the hashes node offers, the reason
 * for SHA-256. SAELAB_MANIFEST_MB sets the artifact size (default 1024 MiB).
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeFileAtomic } from '../lib/io/atomic';
import { reusableStage, writeManifest } from '../lib/notebook/stage';

function seconds(f: () => void): number {
  const t0 = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export async function run(): Promise<void> {
  const mb = Number(process.env.SAELAB_MANIFEST_MB ?? 1024);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'saelab-manifest-bench-'));
  try {
    const block = Buffer.alloc(64 << 20);
    for (let i = 0; i < block.length; i += 4) block.writeUInt32LE((i * 2654435761) >>> 0, i);
    console.log(`hash throughput over ${block.length >> 20} MiB in memory (GB/s):`);
    for (const h of ['sha256', 'sha1', 'md5', 'blake2b512', 'sha512']) {
      const s = Math.min(...[0, 1, 2].map(() => seconds(() => crypto.createHash(h).update(block).digest())));
      console.log(`  ${h.padEnd(11)} ${(block.length / s / 1e9).toFixed(2)}`);
    }
    const file = path.join(dir, 'acts.safetensors');
    const parts = Array.from({ length: Math.ceil(mb / 64) }, () => block);
    const tWrite = seconds(() => writeFileAtomic(file, parts));
    const tManifest = seconds(() => writeManifest(dir, 'bench', { k: 1 }, ['acts.safetensors']));
    const tReuse = seconds(() => { if (!reusableStage(dir, { k: 1 })) throw new Error('not reusable'); });
    const later = new Date(Date.now() + 60_000);
    fs.utimesSync(file, later, later);
    const tRehash = seconds(() => { if (!reusableStage(dir, { k: 1 })) throw new Error('not reusable after touch'); });
    console.log(`artifact of ${parts.length * 64} MiB:`);
    console.log(`  write it (writeFileAtomic, fsync)          ${tWrite.toFixed(2)} s`);
    console.log(`  writeManifest (stat + SHA-256)             ${tManifest.toFixed(2)} s`);
    console.log(`  reusableStage, unchanged (size + mtime)    ${(tReuse * 1000).toFixed(2)} ms`);
    console.log(`  reusableStage, mtime changed (rehash)      ${tRehash.toFixed(2)} s`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
