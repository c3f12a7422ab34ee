/**
 * A small reader for numpy .npz archives (a zip of .npy files, stored or deflated), enough for
 * Gemma Scope's params.npz: little-endian float/int arrays in C order.
 */
import { ZipReader } from '../io/zip';
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
  const zip = ZipReader.open(file);
  try {
    const out: Record<string, NpyArray> = {};
    for (const name of zip.names()) {
      if (!name.endsWith('.npy')) continue;
      out[name.slice(0, -4)] = parseNpy(Buffer.from(zip.read(name)), `${file}:${name}`);
    }
    return out;
  } finally {
    zip.close();
  }
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
