/**
 * A small reader for numpy .npz archives (a zip of .npy files, stored or deflated), enough for
 * Gemma Scope's params.npz: little-endian float/int arrays in C order.
 */
import * as fs from 'fs';
import * as zlib from 'zlib';
import { f16ToF32 } from '../io/dtypes';

export interface NpyArray {
  /** numpy dtype descr, e.g. "<f4" */
  descr: string;
  shape: number[];
  /** values converted to float32 */
  data: Float32Array;
}

/** Read every array of an .npz file; keys are the member names without ".npy". */
export function readNpz(file: string): Record<string, NpyArray> {
  const buf = fs.readFileSync(file);
  const out: Record<string, NpyArray> = {};
  for (const entry of zipEntries(buf, file)) {
    if (!entry.name.endsWith('.npy')) continue;
    out[entry.name.slice(0, -4)] = parseNpy(entry.data, `${file}:${entry.name}`);
  }
  return out;
}

interface ZipEntry { name: string; data: Buffer }

/** Members of a zip archive through its central directory (zip64 sizes supported). */
function zipEntries(buf: Buffer, file: string): ZipEntry[] {
  const EOCD = 0x06054b50;
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 65535); i--) {
    if (buf.readUInt32LE(i) === EOCD) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error(`${file}: not a zip/npz archive (no end-of-central-directory record)`);
  let count = buf.readUInt16LE(eocd + 10);
  let cdOffset = buf.readUInt32LE(eocd + 16);
  if (cdOffset === 0xffffffff || count === 0xffff) {
    const loc = eocd - 20;
    if (loc < 0 || buf.readUInt32LE(loc) !== 0x07064b50) throw new Error(`${file}: zip64 archive without a zip64 locator`);
    const z = Number(buf.readBigUInt64LE(loc + 8));
    count = Number(buf.readBigUInt64LE(z + 32));
    cdOffset = Number(buf.readBigUInt64LE(z + 48));
  }
  const entries: ZipEntry[] = [];
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error(`${file}: corrupt zip central directory at byte ${p}`);
    const method = buf.readUInt16LE(p + 10);
    let compSize = buf.readUInt32LE(p + 20);
    let size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    let localOff = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    // zip64 extra field: sizes and offset in that order, only those that overflowed
    let e = p + 46 + nameLen;
    const eEnd = e + extraLen;
    while (e + 4 <= eEnd) {
      const id = buf.readUInt16LE(e);
      const len = buf.readUInt16LE(e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        if (size === 0xffffffff) { size = Number(buf.readBigUInt64LE(q)); q += 8; }
        if (compSize === 0xffffffff) { compSize = Number(buf.readBigUInt64LE(q)); q += 8; }
        if (localOff === 0xffffffff) { localOff = Number(buf.readBigUInt64LE(q)); q += 8; }
      }
      e += 4 + len;
    }
    if (buf.readUInt32LE(localOff) !== 0x04034b50) throw new Error(`${file}: corrupt local header for ${name}`);
    const start = localOff + 30 + buf.readUInt16LE(localOff + 26) + buf.readUInt16LE(localOff + 28);
    const raw = buf.subarray(start, start + compSize);
    let data: Buffer;
    if (method === 0) data = raw;
    else if (method === 8) data = zlib.inflateRawSync(raw);
    else throw new Error(`${file}: member ${name} uses zip compression method ${method}; only stored (0) and deflate (8) are supported`);
    if (data.length !== size) throw new Error(`${file}: member ${name} has ${data.length} bytes, the directory says ${size}`);
    entries.push({ name, data });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** Parse one .npy file (format versions 1-3). */
export function parseNpy(b: Buffer, label: string): NpyArray {
  if (b.length < 10 || b[0] !== 0x93 || b.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${label}: not a .npy array (bad magic)`);
  const major = b[6];
  const headerLen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const hStart = major === 1 ? 10 : 12;
  const header = b.toString(major === 3 ? 'utf8' : 'latin1', hStart, hStart + headerLen);
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeStr = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeStr === undefined) throw new Error(`${label}: cannot parse .npy header ${JSON.stringify(header)}`);
  if (fortran === 'True') throw new Error(`${label}: Fortran-order arrays are not supported`);
  const shape = shapeStr.split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  const n = shape.reduce((a, d) => a * d, 1);
  const off = hStart + headerLen;
  const body = b.subarray(off);
  const need = (size: number) => {
    if (body.length < n * size) throw new Error(`${label}: data has ${body.length} bytes, shape [${shape.join(', ')}] x ${descr} needs ${n * size}`);
  };
  if (descr[0] === '>') throw new Error(`${label}: big-endian arrays (${descr}) are not supported`);
  const kind = descr.slice(1);
  if (kind === 'f4') { need(4); return { descr, shape, data: new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + n * 4)) }; }
  const out = new Float32Array(n);
  switch (kind) {
    case 'f8': need(8); for (let i = 0; i < n; i++) out[i] = body.readDoubleLE(i * 8); break;
    case 'f2': need(2); for (let i = 0; i < n; i++) out[i] = f16ToF32(body.readUInt16LE(i * 2)); break;
    case 'i4': need(4); for (let i = 0; i < n; i++) out[i] = body.readInt32LE(i * 4); break;
    case 'i8': need(8); for (let i = 0; i < n; i++) out[i] = Number(body.readBigInt64LE(i * 8)); break;
    default: throw new Error(`${label}: unsupported dtype ${descr} (supported: <f4, <f8, <f2, <i4, <i8)`);
  }
  return { descr, shape, data: out };
}
