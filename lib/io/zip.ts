/**
 * saelab's zip reader and writers (stored and deflated entries, zip64), enough for PyTorch checkpoints and
 * NumPy .npz files (lib/io/npz.ts):
 * torch.save writes uncompressed entries whose data start on 64-byte boundaries, and zip64 records
 * for files beyond 4 GB. Every size and offset is checked against the file before anything is read
 * or allocated, and every entry's CRC-32 is verified.
 */
import * as fs from 'fs';
import * as zlib from 'zlib';
import { AtomicFile } from './atomic';
import { SaelabError } from './errors';

export class ZipError extends SaelabError {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'ZipError';
  }
}

/** Random-access bytes: a file (read through a descriptor) or an in-memory buffer. */
export interface ByteSource {
  readonly size: number;
  /** `len` bytes at `pos` in a fresh buffer (callers check the range first) */
  read(pos: number, len: number): Uint8Array;
  close(): void;
}

export function bytesSource(bytes: Uint8Array): ByteSource {
  const read = (pos: number, len: number): Uint8Array => {
    const out = new Uint8Array(len); // a copy (Buffer#slice would share memory)
    out.set(bytes.subarray(pos, pos + len));
    return out;
  };
  return { size: bytes.length, read, close: () => undefined };
}

export function fileSource(file: string): ByteSource {
  const fd = fs.openSync(file, 'r');
  const size = fs.fstatSync(fd).size;
  return {
    size,
    read(pos, len) {
      const out = new Uint8Array(len);
      let off = 0;
      while (off < len) {
        const n = fs.readSync(fd, out, off, Math.min(len - off, 1 << 30), pos + off);
        if (n === 0) throw new Error(`${file}: unexpected end of file at byte ${pos + off}`);
        off += n;
      }
      return out;
    },
    close: () => fs.closeSync(fd),
  };
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (zip's polynomial), continued from `crc` for streamed data; uses zlib's when Node has it. */
export function crc32(data: Uint8Array, crc = 0): number {
  if (data.length === 0) return crc >>> 0; // Node's zlib.crc32 returns 0 for empty input, dropping `crc`
  const native = (zlib as unknown as { crc32?: (d: Uint8Array, c?: number) => number }).crc32;
  if (native) return native(data, crc) >>> 0;
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflate */
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_LOCATOR64 = 0x07064b50;
const U32_MAX = 0xffffffff;
/** deflate cannot expand data by more than about 1032:1 */
const MAX_DEFLATE_RATIO = 1032;

class Reader {
  constructor(private readonly b: Uint8Array, private readonly dv = new DataView(b.buffer, b.byteOffset, b.byteLength)) {}
  u16(o: number): number { return this.dv.getUint16(o, true); }
  u32(o: number): number { return this.dv.getUint32(o, true); }
  u64(o: number): number {
    const v = this.dv.getBigUint64(o, true);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  }
}

/** A zip archive opened for reading single entries. */
export class ZipReader {
  readonly entries = new Map<string, ZipEntry>();
  /** where the central directory starts: every entry's data must end before it */
  private cdOffset = 0;

  private constructor(readonly file: string, private readonly src: ByteSource) {}

  /** Open a zip from a file path or bytes; `label` names it in errors. */
  static open(input: string | Uint8Array, label?: string): ZipReader {
    const src = typeof input === 'string' ? fileSource(input) : bytesSource(input);
    const z = new ZipReader(label ?? (typeof input === 'string' ? input : '<bytes>'), src);
    try {
      z.readDirectory();
    } catch (e) {
      src.close();
      throw e;
    }
    return z;
  }

  private fail(msg: string): never {
    throw new ZipError(this.file, msg);
  }

  private readDirectory(): void {
    const size = this.src.size;
    const notZip = (reason: string): never => {
      const head = this.src.read(0, Math.min(size, 2));
      const hint = head[0] === 0x80 ? ' (it looks like a plain pickle or a legacy torch.save file from before torch 1.6; re-save it with a current torch)' : '';
      return this.fail(`not a zip archive: ${reason}${hint}`);
    };
    if (size < 22) notZip(`the file has only ${size} bytes`);
    const tailLen = Math.min(size, 22 + 0xffff);
    const tailStart = size - tailLen;
    const tail = this.src.read(tailStart, tailLen);
    const t = new Reader(tail);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (t.u32(i) === SIG_EOCD && i + 22 + t.u16(i + 20) === tailLen) { eocd = i; break; }
    }
    if (eocd < 0) notZip('no end-of-central-directory record');
    let count = t.u16(eocd + 10);
    let cdSize = t.u32(eocd + 12);
    let cdOffset = t.u32(eocd + 16);
    let cdEnd = tailStart + eocd; // central directory must end before this
    const locPos = tailStart + eocd - 20;
    if (locPos >= 0) {
      const loc = new Reader(this.src.read(locPos, 20));
      if (loc.u32(0) === SIG_LOCATOR64) {
        const e64 = loc.u64(8);
        if (e64 + 56 > locPos) this.fail(`zip64 end record offset ${e64} is beyond the file (truncated or corrupt)`);
        const r = new Reader(this.src.read(e64, 56));
        if (r.u32(0) !== SIG_EOCD64) this.fail(`no zip64 end record at byte ${e64} (corrupt archive)`);
        count = r.u64(32);
        cdSize = r.u64(40);
        cdOffset = r.u64(48);
        cdEnd = e64;
      }
    }
    if (cdOffset + cdSize > cdEnd) this.fail(`central directory [${cdOffset}, ${cdOffset + cdSize}) runs past its end record at byte ${cdEnd} (truncated or corrupt)`);
    if (count * 46 > cdSize) this.fail(`central directory of ${cdSize} bytes cannot hold ${count} entries (corrupt)`);
    this.cdOffset = cdOffset;
    const cd = this.src.read(cdOffset, cdSize);
    const r = new Reader(cd);
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cdSize || r.u32(p) !== SIG_CENTRAL) this.fail(`central directory entry ${i} at byte ${cdOffset + p} is corrupt`);
      const flags = r.u16(p + 8);
      const method = r.u16(p + 10);
      const crc = r.u32(p + 16);
      let csize = r.u32(p + 20);
      let usize = r.u32(p + 24);
      const nameLen = r.u16(p + 28);
      const extraLen = r.u16(p + 30);
      const commentLen = r.u16(p + 32);
      let local = r.u32(p + 42);
      const end = p + 46 + nameLen + extraLen + commentLen;
      if (end > cdSize) this.fail(`central directory entry ${i} runs past the directory (corrupt)`);
      let name: string;
      try {
        name = new TextDecoder('utf-8', { fatal: true }).decode(cd.subarray(p + 46, p + 46 + nameLen));
      } catch {
        this.fail(`central directory entry ${i} has a name that is not UTF-8 (corrupt)`);
      }
      // zip64 extended information: the 0xFFFFFFFF fields, in order usize, csize, local offset
      let q = p + 46 + nameLen;
      const extraEnd = q + extraLen;
      while (q + 4 <= extraEnd) {
        const id = r.u16(q);
        const len = r.u16(q + 2);
        if (q + 4 + len > extraEnd) this.fail(`entry '${name!}': extra field runs past its end (corrupt)`);
        if (id === 0x0001) {
          let f = q + 4;
          const take = (): number => {
            if (f + 8 > q + 4 + len) this.fail(`entry '${name!}': zip64 extra field too short (corrupt)`);
            const v = r.u64(f);
            f += 8;
            return v;
          };
          if (usize === U32_MAX) usize = take();
          if (csize === U32_MAX) csize = take();
          if (local === U32_MAX) local = take();
        }
        q += 4 + len;
      }
      if (flags & 1) this.fail(`entry '${name!}' is encrypted; encrypted archives are not supported`);
      if (method !== 0 && method !== 8) this.fail(`entry '${name!}' uses compression method ${method}; only stored (0) and deflate (8) are supported`);
      if (this.entries.has(name!)) this.fail(`entry '${name!}' appears twice (corrupt or ambiguous archive)`);
      if (local + 30 + csize > cdOffset) this.fail(`entry '${name!}': data [${local}, ${local + 30 + csize}) runs into the central directory at ${cdOffset} (truncated or corrupt)`);
      if (method === 0 && csize !== usize) this.fail(`entry '${name!}' is stored but its sizes differ (${csize} vs ${usize})`);
      if (method === 8 && usize > csize * MAX_DEFLATE_RATIO + 1024) this.fail(`entry '${name!}' claims ${usize} bytes from ${csize} compressed bytes, beyond what deflate can produce (corrupt)`);
      this.entries.set(name!, { name: name!, method, crc32: crc, compressedSize: csize, size: usize, localHeaderOffset: local });
      p = end;
    }
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** An entry's uncompressed bytes (a fresh, aligned buffer), CRC checked. */
  read(name: string): Uint8Array {
    const e = this.entries.get(name);
    if (!e) this.fail(`no entry '${name}' in the archive`);
    const h = new Reader(this.src.read(e!.localHeaderOffset, 30));
    if (h.u32(0) !== SIG_LOCAL) this.fail(`entry '${name}': no local header at byte ${e!.localHeaderOffset} (corrupt)`);
    const start = e!.localHeaderOffset + 30 + h.u16(26) + h.u16(28);
    if (start + e!.compressedSize > this.cdOffset) this.fail(`entry '${name}': data runs into the central directory (corrupt)`);
    const raw = this.src.read(start, e!.compressedSize);
    let data = raw;
    if (e!.method === 8) {
      try {
        const out = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, e!.size) });
        data = new Uint8Array(out.byteLength);
        data.set(out);
      } catch (err) {
        this.fail(`entry '${name}': deflate data is corrupt (${(err as Error).message})`);
      }
      if (data.length !== e!.size) this.fail(`entry '${name}': inflated to ${data.length} bytes, expected ${e!.size} (corrupt)`);
    }
    const crc = crc32(data);
    if (crc !== e!.crc32) this.fail(`entry '${name}': CRC-32 mismatch (stored ${e!.crc32.toString(16)}, computed ${crc.toString(16)}); the file is corrupt`);
    return data;
  }

  close(): void {
    this.src.close();
  }
}

export interface ZipInput {
  name: string;
  data: Uint8Array;
}

export interface ZipWriteOptions {
  /** start each entry's data on a multiple of this many bytes (torch uses 64); 0 for none */
  align?: number;
  /** write zip64 records even when the archive is small (to test readers) */
  forceZip64?: boolean;
  /** deflate the entries (torch stores them; other zip tools may not) */
  deflate?: boolean;
}

function le(n: number, bytes: 2 | 4 | 8): Buffer {
  const b = Buffer.alloc(bytes);
  if (bytes === 2) b.writeUInt16LE(n);
  else if (bytes === 4) b.writeUInt32LE(n);
  else b.writeBigUInt64LE(BigInt(n));
  return b;
}

/** One entry's sizes and place: what its local header and central directory record say. */
interface EntryLayout {
  name: Buffer;
  crc: number;
  /** stored (0) or deflated (8) */
  method: number;
  /** compressed and uncompressed sizes */
  csize: number;
  usize: number;
  /** offset of the local header */
  offset: number;
  /** zip64 extra fields (sizes beyond 4 GiB, or forced) */
  zip64: boolean;
}

/** The local header and its extra field (zip64 sizes, then `pad` bytes of torch-style alignment padding when pad >= 0). */
function localHeader(e: EntryLayout, pad = -1): Buffer {
  const z64 = e.zip64 ? Buffer.concat([le(1, 2), le(16, 2), le(e.usize, 8), le(e.csize, 8)]) : Buffer.alloc(0);
  const extra = pad >= 0 ? Buffer.concat([z64, le(0x4246, 2), le(pad, 2), Buffer.alloc(pad)]) : z64;
  return Buffer.concat([
    le(SIG_LOCAL, 4), le(e.zip64 ? 45 : 20, 2), le(0, 2), le(e.method, 2), le(0, 2), le(0x21, 2), le(e.crc, 4),
    le(e.zip64 ? U32_MAX : e.csize, 4), le(e.zip64 ? U32_MAX : e.usize, 4), le(e.name.length, 2), le(extra.length, 2), e.name, extra,
  ]);
}

/** Bytes of the local header before the extra field's alignment padding (to compute the padding). */
function localHeaderBase(nameLength: number, zip64: boolean): number {
  return 30 + nameLength + (zip64 ? 20 : 0) + 4;
}

function centralRecord(e: EntryLayout): Buffer {
  const extra = e.zip64 ? Buffer.concat([le(1, 2), le(24, 2), le(e.usize, 8), le(e.csize, 8), le(e.offset, 8)]) : Buffer.alloc(0);
  return Buffer.concat([
    le(SIG_CENTRAL, 4), le(e.zip64 ? 45 : 20, 2), le(e.zip64 ? 45 : 20, 2), le(0, 2), le(e.method, 2), le(0, 2), le(0x21, 2), le(e.crc, 4),
    le(e.zip64 ? U32_MAX : e.csize, 4), le(e.zip64 ? U32_MAX : e.usize, 4), le(e.name.length, 2), le(extra.length, 2), le(0, 2), le(0, 2), le(0, 2), le(0, 4),
    le(e.zip64 ? U32_MAX : e.offset, 4), e.name, extra,
  ]);
}

/** The end records after the central directory (zip64 end record and locator when needed or forced). */
function endRecords(n: number, cdOffset: number, cdSize: number, forceZip64: boolean): Buffer {
  const zip64 = forceZip64 || n >= 0xffff || cdOffset >= U32_MAX || cdSize >= U32_MAX;
  const parts: Buffer[] = [];
  if (zip64) {
    const e64Offset = cdOffset + cdSize;
    parts.push(le(SIG_EOCD64, 4), le(44, 8), le(45, 2), le(45, 2), le(0, 4), le(0, 4), le(n, 8), le(n, 8), le(cdSize, 8), le(cdOffset, 8));
    parts.push(le(SIG_LOCATOR64, 4), le(0, 4), le(e64Offset, 8), le(1, 4));
  }
  parts.push(
    le(SIG_EOCD, 4), le(0, 2), le(0, 2), le(zip64 ? 0xffff : n, 2), le(zip64 ? 0xffff : n, 2),
    le(zip64 ? U32_MAX : cdSize, 4), le(zip64 ? U32_MAX : cdOffset, 4), le(0, 2),
  );
  return Buffer.concat(parts);
}

/**
 * Lay out a zip archive of stored (or, with `deflate`, compressed) entries. Returns the chunks to write in order.
 * Data are aligned with an extra field (id 0x4246) of padding, as torch does.
 */
export function buildZip(inputs: ZipInput[], opts: ZipWriteOptions = {}): Uint8Array[] {
  const align = opts.align ?? 0;
  const out: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const { name, data: plain } of inputs) {
    const nameBytes = Buffer.from(name, 'utf8');
    const data = opts.deflate ? new Uint8Array(zlib.deflateRawSync(plain)) : plain;
    const e: EntryLayout = {
      name: nameBytes, crc: crc32(plain), method: opts.deflate ? 8 : 0, csize: data.length, usize: plain.length, offset,
      zip64: !!opts.forceZip64 || plain.length >= U32_MAX || data.length >= U32_MAX || offset >= U32_MAX,
    };
    const pad = align > 0 ? (align - (localHeaderBase(nameBytes.length, e.zip64) + offset) % align) % align : -1;
    const header = localHeader(e, pad);
    out.push(header, data);
    central.push(centralRecord(e));
    offset += header.length + data.length;
  }
  const cdSize = central.reduce((s, c) => s + c.length, 0);
  out.push(...central, endRecords(inputs.length, offset, cdSize, !!opts.forceZip64));
  return out;
}

/** An entry streamed into a zip file: its uncompressed size, and a writer that emits exactly that many bytes. */
export interface ZipStreamEntry {
  name: string;
  size: number;
  write(emit: (chunk: Uint8Array) => void): void;
}

/**
 * Write a zip of stored entries streamed through callbacks, so an entry larger than memory is never held
 * whole, atomically (temporary file, fsync, rename), with zip64 records when an entry or offset passes
 * 4 GiB (or `forceZip64`). Each entry's CRC-32 is computed while streaming and patched into its header.
 */
export function writeZipStream(file: string, entries: ZipStreamEntry[], opts: { forceZip64?: boolean } = {}): void {
  const out = new AtomicFile(file);
  try {
    const central: Buffer[] = [];
    for (const en of entries) {
      const offset = out.size;
      const e: EntryLayout = {
        name: Buffer.from(en.name, 'utf8'), crc: 0, method: 0, csize: en.size, usize: en.size, offset,
        zip64: !!opts.forceZip64 || en.size >= U32_MAX || offset >= U32_MAX,
      };
      out.append(localHeader(e));
      let written = 0;
      en.write((chunk) => {
        e.crc = crc32(chunk, e.crc);
        written += chunk.byteLength;
        out.append(chunk);
      });
      if (written !== en.size) throw new Error(`${file}: entry '${en.name}' wrote ${written} bytes, declared ${en.size}`);
      out.writeAt(offset + 14, le(e.crc, 4));
      central.push(centralRecord(e));
    }
    const cdOffset = out.size;
    for (const c of central) out.append(c);
    out.append(endRecords(entries.length, cdOffset, out.size - cdOffset, !!opts.forceZip64));
    out.commit();
  } catch (e) {
    out.abort();
    throw e;
  }
}
