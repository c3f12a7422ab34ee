import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { SafetensorsFile } from '../lib/io/safetensors';

const MB = 1024 * 1024;
const TOTAL = 200 * MB;

/** Write a ~200 MB checkpoint-like file (many [1024, n] tensors) chunk by chunk, never holding it whole. */
function writeBenchFile(file: string, dtype: 'F32' | 'BF16'): void {
  const elSize = dtype === 'F32' ? 4 : 2;
  const tensorBytes = 4 * MB;
  const count = TOTAL / tensorBytes;
  const cols = tensorBytes / elSize / 1024;
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  for (let i = 0; i < count; i++) header[`layers.${i}.weight`] = { dtype, shape: [1024, cols], data_offsets: [i * tensorBytes, (i + 1) * tensorBytes] };
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((json.length + 8) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, len);
    fs.writeSync(fd, json);
    const chunk = Buffer.alloc(tensorBytes);
    // values in a normal range: F32 random floats; BF16 = high halves of random floats
    const f = new Float32Array(chunk.buffer, chunk.byteOffset, tensorBytes / 4);
    for (let i = 0; i < f.length; i++) f[i] = (Math.random() - 0.5) * 0.1;
    if (dtype === 'BF16') {
      const u32 = new Uint32Array(f.buffer, f.byteOffset, f.length);
      const u16 = new Uint16Array(chunk.buffer, chunk.byteOffset, tensorBytes / 2);
      for (let i = 0; i < u32.length; i++) u16[i] = u32[i] >>> 16;
      for (let i = u32.length; i < u16.length; i++) u16[i] = u16[i - u32.length];
    }
    for (let i = 0; i < count; i++) fs.writeSync(fd, chunk);
  } finally {
    fs.closeSync(fd);
  }
}

function time(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function rate(bytes: number, s: number): string {
  return `${(bytes / MB / s).toFixed(0)} MB/s (${s.toFixed(3)} s)`;
}

/** Plain sequential read of the file in 4 MB chunks: the disk / page-cache baseline. */
function baseline(file: string): void {
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(4 * MB);
  let pos = 0;
  let n: number;
  while ((n = fs.readSync(fd, buf, 0, buf.length, pos)) > 0) pos += n;
  fs.closeSync(fd);
}

export async function run(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'saelab-bench-st-'));
  try {
    for (const dtype of ['F32', 'BF16'] as const) {
      const file = path.join(dir, `${dtype}.safetensors`);
      writeBenchFile(file, dtype);
      const size = fs.statSync(file).size;
      baseline(file); // warm the page cache so every figure below reads from the same place
      const base = time(() => baseline(file));
      const f = SafetensorsFile.open(file);
      const raw = time(() => { for (const n of f.names()) f.readRaw(n); });
      const f32 = time(() => { for (const n of f.names()) f.readFloat32(n); });
      const tens = time(() => { for (const n of f.names()) f.tensor(n).dispose(); });
      f.close();
      console.log(`${dtype} ${(size / MB).toFixed(0)} MB, ${f.tensors.size} tensors (page cache warm):`);
      console.log(`  plain sequential read   ${rate(size, base)}`);
      console.log(`  readRaw (per tensor)    ${rate(size, raw)}`);
      console.log(`  readFloat32             ${rate(size, f32)}`);
      console.log(`  tensor() -> tf.Tensor   ${rate(size, tens)}`);
      fs.rmSync(file);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
