/**
 * NumPy .npy arrays and .npz archives (a zip of .npy members): reading (float and int arrays, stored or
 * deflated; Gemma Scope's params.npz) and streaming writing (float32 / int64 members, ZIP64 beyond 4 GiB,
 * atomic), through lib/io/zip.ts.
 */
import { ZipReader, writeZipStream } from './zip';
import { f16ToF32 } from './dtypes';

/** One .npy member: little-endian float32 or int64, C order. */
export interface NpyMember {
  /** member name without `.npy` (numpy's `np.load(f)[name]`) */
  name: string;
  descr: '<f4' | '<i8';
  shape: number[];
  /** write exactly prod(shape) * itemsize bytes, in C order, through `emit` */
  write(emit: (chunk: Uint8Array) => void): void;
}

/** The .npy v1.0 header for a C-order array, padded so the data start on a 64-byte boundary. */
export function npyHeader(descr: string, shape: number[]): Uint8Array {
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  const total = 10 + dict.length + 1;
  dict += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  if (dict.length > 65535) throw new Error(`npy header of ${dict.length} bytes does not fit version 1.0`);
  const out = new Uint8Array(10 + dict.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  out[8] = dict.length & 0xff;
  out[9] = dict.length >> 8;
  for (let k = 0; k < dict.length; k++) out[10 + k] = dict.charCodeAt(k);
  return out;
}

/**
 * Write an .npz file of streamed members atomically (temporary file, fsync, rename), so a dense array is
 * never held in memory whole. `forceZip64` writes ZIP64 records even for small members.
 */
export function writeNpz(file: string, members: NpyMember[], options: { forceZip64?: boolean } = {}): void {
  writeZipStream(file, members.map((m) => {
    const header = npyHeader(m.descr, m.shape);
    const itemsize = m.descr === '<f4' ? 4 : 8;
    return {
      name: `${m.name}.npy`,
      size: header.length + m.shape.reduce((a, b) => a * b, 1) * itemsize,
      write(emit: (chunk: Uint8Array) => void) {
        emit(header);
        m.write(emit);
      },
    };
  }), { forceZip64: options.forceZip64 });
}

/** A member from a whole typed array (small arrays: series, thresholds). */
export function npyFromArray(name: string, shape: number[], data: Float32Array | BigInt64Array): NpyMember {
  return {
    name, shape, descr: data instanceof Float32Array ? '<f4' : '<i8',
    write: (emit) => emit(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)),
  };
}

/** One array read from a .npy file. */
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
