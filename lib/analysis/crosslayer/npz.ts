import * as fs from 'fs';
import * as path from 'path';
import { crc32 } from '../../io/zip';
export { crc32 };

/**
 * Minimal streaming writer of NumPy .npz files (a ZIP of .npy members, stored uncompressed), with
 * ZIP64 records when a member or offset passes 4 GiB (a seed-sized [11, 24576, 24576] float32 array is
 * 26 GB). Data are streamed through a callback, so a dense array is never held in memory whole.
 */

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

const U32_MAX = 0xffffffff;

/** Write an .npz file atomically (temporary file, fsync, rename). `force_zip64` writes ZIP64 records even for small members. */
export function writeNpz(file: string, members: NpyMember[], options: { force_zip64?: boolean } = {}): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const fd = fs.openSync(tmp, 'w');
  let pos = 0;
  const put = (b: Uint8Array): void => {
    let off = 0;
    while (off < b.byteLength) off += fs.writeSync(fd, b, off, b.byteLength - off, pos + off);
    pos += b.byteLength;
  };
  const central: Uint8Array[] = [];
  try {
    for (const m of members) {
      const itemsize = m.descr === '<f4' ? 4 : 8;
      const header = npyHeader(m.descr, m.shape);
      const dataBytes = m.shape.reduce((a, b) => a * b, 1) * itemsize;
      const size = header.length + dataBytes;
      const name = Buffer.from(`${m.name}.npy`, 'utf8');
      const offset = pos;
      const zip64 = !!options.force_zip64 || size >= U32_MAX || offset >= U32_MAX;
      // local header (CRC patched after the data)
      const local = Buffer.alloc(30 + name.length + (zip64 ? 20 : 0));
      local.writeUInt32LE(0x04034b50, 0);
      local.writeUInt16LE(zip64 ? 45 : 20, 4);
      local.writeUInt16LE(0, 6); // flags
      local.writeUInt16LE(0, 8); // stored
      local.writeUInt16LE(0, 10); // time
      local.writeUInt16LE(0x21, 12); // date 1980-01-01
      local.writeUInt32LE(0, 14); // crc (patched)
      local.writeUInt32LE(zip64 ? U32_MAX : size, 18);
      local.writeUInt32LE(zip64 ? U32_MAX : size, 22);
      local.writeUInt16LE(name.length, 26);
      local.writeUInt16LE(zip64 ? 20 : 0, 28);
      name.copy(local, 30);
      if (zip64) {
        const e = 30 + name.length;
        local.writeUInt16LE(0x0001, e);
        local.writeUInt16LE(16, e + 2);
        local.writeBigUInt64LE(BigInt(size), e + 4);
        local.writeBigUInt64LE(BigInt(size), e + 12);
      }
      put(local);
      let crc = crc32(header);
      put(header);
      let written = 0;
      m.write((chunk) => {
        crc = crc32(chunk, crc);
        written += chunk.byteLength;
        put(chunk);
      });
      if (written !== dataBytes) throw new Error(`${file}: member '${m.name}' wrote ${written} bytes, shape [${m.shape.join(', ')}] x ${itemsize} needs ${dataBytes}`);
      const crcBuf = Buffer.alloc(4);
      crcBuf.writeUInt32LE(crc, 0);
      fs.writeSync(fd, crcBuf, 0, 4, offset + 14);
      // central directory entry
      const cd = Buffer.alloc(46 + name.length + (zip64 ? 28 : 0));
      cd.writeUInt32LE(0x02014b50, 0);
      cd.writeUInt16LE(zip64 ? 45 : 20, 4); // made by
      cd.writeUInt16LE(zip64 ? 45 : 20, 6); // needed
      cd.writeUInt16LE(0, 8);
      cd.writeUInt16LE(0, 10);
      cd.writeUInt16LE(0, 12);
      cd.writeUInt16LE(0x21, 14);
      cd.writeUInt32LE(crc, 16);
      cd.writeUInt32LE(zip64 ? U32_MAX : size, 20);
      cd.writeUInt32LE(zip64 ? U32_MAX : size, 24);
      cd.writeUInt16LE(name.length, 28);
      cd.writeUInt16LE(zip64 ? 28 : 0, 30);
      cd.writeUInt16LE(0, 32); // comment
      cd.writeUInt16LE(0, 34); // disk
      cd.writeUInt16LE(0, 36); // internal attrs
      cd.writeUInt32LE(0, 38); // external attrs
      cd.writeUInt32LE(zip64 ? U32_MAX : offset, 42);
      name.copy(cd, 46);
      if (zip64) {
        const e = 46 + name.length;
        cd.writeUInt16LE(0x0001, e);
        cd.writeUInt16LE(24, e + 2);
        cd.writeBigUInt64LE(BigInt(size), e + 4);
        cd.writeBigUInt64LE(BigInt(size), e + 12);
        cd.writeBigUInt64LE(BigInt(offset), e + 20);
      }
      central.push(cd);
    }
    const cdOffset = pos;
    for (const c of central) put(c);
    const cdSize = pos - cdOffset;
    const n = members.length;
    const zip64End = !!options.force_zip64 || cdOffset >= U32_MAX || n >= 0xffff || cdSize >= U32_MAX;
    if (zip64End) {
      const z64Offset = pos;
      const rec = Buffer.alloc(56);
      rec.writeUInt32LE(0x06064b50, 0);
      rec.writeBigUInt64LE(44n, 4);
      rec.writeUInt16LE(45, 12);
      rec.writeUInt16LE(45, 14);
      rec.writeUInt32LE(0, 16);
      rec.writeUInt32LE(0, 20);
      rec.writeBigUInt64LE(BigInt(n), 24);
      rec.writeBigUInt64LE(BigInt(n), 32);
      rec.writeBigUInt64LE(BigInt(cdSize), 40);
      rec.writeBigUInt64LE(BigInt(cdOffset), 48);
      put(rec);
      const loc = Buffer.alloc(20);
      loc.writeUInt32LE(0x07064b50, 0);
      loc.writeUInt32LE(0, 4);
      loc.writeBigUInt64LE(BigInt(z64Offset), 8);
      loc.writeUInt32LE(1, 16);
      put(loc);
    }
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(0, 4);
    end.writeUInt16LE(0, 6);
    end.writeUInt16LE(zip64End ? 0xffff : n, 8);
    end.writeUInt16LE(zip64End ? 0xffff : n, 10);
    end.writeUInt32LE(zip64End ? U32_MAX : cdSize, 12);
    end.writeUInt32LE(zip64End ? U32_MAX : cdOffset, 16);
    end.writeUInt16LE(0, 20);
    put(end);
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
}

/** A member from a whole typed array (small arrays: series, thresholds). */
export function npyFromArray(name: string, shape: number[], data: Float32Array | BigInt64Array): NpyMember {
  return {
    name, shape, descr: data instanceof Float32Array ? '<f4' : '<i8',
    write: (emit) => emit(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)),
  };
}
