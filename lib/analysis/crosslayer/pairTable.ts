import * as fs from 'fs';
import * as path from 'path';

/**
 * Per-pair accumulators of one layer pair (feature i of layer L, feature j of layer L+1), kept only for
 * pairs that were ever both nonzero on a token:
 *   count    = #tokens with x_i > 0 and y_j > 0
 *   countRel = #tokens with x_i > lb_i and y_j > lb_j (relative-activation bounds)
 *   sumXY    = sum over tokens of x_i * y_j
 * Open addressing with linear probing over one interleaved buffer (24 bytes a slot: i + 1, j, count,
 * countRel as int32, sumXY as float64), so an update touches one cache line; i + 1 = 0 marks empty.
 */
export class PairTable {
  size = 0;
  capacity = 0;
  private mask = 0;
  private i32 = new Int32Array(0);
  private f64 = new Float64Array(0);

  constructor(initialCapacity = 1 << 12) {
    let cap = 16;
    while (cap < initialCapacity) cap *= 2;
    this.alloc(cap);
  }

  private alloc(cap: number): void {
    const buf = new ArrayBuffer(cap * 24);
    this.i32 = new Int32Array(buf);
    this.f64 = new Float64Array(buf);
    this.capacity = cap;
    this.mask = cap - 1;
    this.size = 0;
  }

  /** Bytes held by the table. */
  get bytes(): number {
    return this.capacity * 24;
  }

  /** Add (xy, c, cr) to pair (i, j), inserting it when absent. */
  add(i: number, j: number, xy: number, c: number, cr: number): void {
    let h = Math.imul(i, 0x9e3779b1) ^ Math.imul(j + 0x7f4a7c15, 0x85ebca77);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 13;
    const i32 = this.i32;
    const mask = this.mask;
    const key = i + 1;
    let s = h & mask;
    for (;;) {
      const b = s * 6;
      const ki = i32[b];
      if (ki === key && i32[b + 1] === j) {
        i32[b + 2] += c;
        i32[b + 3] += cr;
        this.f64[s * 3 + 2] += xy;
        return;
      }
      if (ki === 0) {
        i32[b] = key;
        i32[b + 1] = j;
        i32[b + 2] = c;
        i32[b + 3] = cr;
        this.f64[s * 3 + 2] = xy;
        if (++this.size * 2 > this.capacity) this.grow();
        return;
      }
      s = (s + 1) & mask;
    }
  }

  private grow(): void {
    const oldI = this.i32, oldF = this.f64, oldCap = this.capacity;
    this.alloc(oldCap * 2);
    for (let s = 0; s < oldCap; s++) {
      const b = s * 6;
      if (oldI[b] === 0) continue;
      this.add(oldI[b] - 1, oldI[b + 1], oldF[s * 3 + 2], oldI[b + 2], oldI[b + 3]);
    }
  }

  /** Drop every entry and shrink back to a small capacity. */
  clear(): void {
    this.alloc(1 << 12);
  }

  /** Visit every entry (unordered). */
  forEachCount(fn: (count: number) => void): void {
    const i32 = this.i32;
    for (let s = 0; s < this.capacity; s++) if (i32[s * 6] !== 0) fn(i32[s * 6 + 2]);
  }

  /** Entries in row-major (i, then j) order; `dRows`/`dCols` bound the indices (two counting sorts). */
  sorted(dRows: number, dCols: number): PairRecords {
    const n = this.size;
    const i32 = this.i32;
    const slots = new Int32Array(n);
    let p = 0;
    for (let s = 0; s < this.capacity; s++) if (i32[s * 6] !== 0) slots[p++] = s;
    // stable counting sort by j, then by i
    const byJ = new Int32Array(n);
    const cj = new Int32Array(dCols + 1);
    for (let k = 0; k < n; k++) cj[i32[slots[k] * 6 + 1] + 1]++;
    for (let r = 0; r < dCols; r++) cj[r + 1] += cj[r];
    for (let k = 0; k < n; k++) byJ[cj[i32[slots[k] * 6 + 1]]++] = slots[k];
    const order = slots;
    const ci = new Int32Array(dRows + 1);
    for (let k = 0; k < n; k++) ci[i32[byJ[k] * 6]]++; // (i + 1) indexes the next bucket start
    for (let r = 0; r < dRows; r++) ci[r + 1] += ci[r];
    for (let k = 0; k < n; k++) order[ci[i32[byJ[k] * 6] - 1]++] = byJ[k];
    const out = emptyRecords(n);
    for (let k = 0; k < n; k++) {
      const s = order[k];
      const b = s * 6;
      out.i[k] = i32[b] - 1;
      out.j[k] = i32[b + 1];
      out.count[k] = i32[b + 2];
      out.countRel[k] = i32[b + 3];
      out.sumXY[k] = this.f64[s * 3 + 2];
    }
    return out;
  }
}

/** Pair accumulators as parallel arrays (one per field). */
export interface PairRecords {
  i: Int32Array;
  j: Int32Array;
  count: Int32Array;
  countRel: Int32Array;
  sumXY: Float64Array;
}

export function emptyRecords(n: number): PairRecords {
  return { i: new Int32Array(n), j: new Int32Array(n), count: new Int32Array(n), countRel: new Int32Array(n), sumXY: new Float64Array(n) };
}

/**
 * A run file: raw little-endian records of 24 bytes, sorted row-major:
 * i int32, j int32, count int32, countRel int32, sumXY float64.
 */
export const RUN_RECORD_BYTES = 24;

/** Append records to an open run file (records must continue the file's sort order). */
export class RunWriter {
  private fd: number;
  private buf = new ArrayBuffer(RUN_RECORD_BYTES * 8192);
  private i32 = new Int32Array(this.buf);
  private f64 = new Float64Array(this.buf);
  private n = 0;
  records = 0;

  /** @param sync fsync on close (checkpoint files); spill runs are scratch and skip it */
  constructor(readonly file: string, private sync = true) {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    this.fd = fs.openSync(file, 'w');
  }

  push(i: number, j: number, count: number, countRel: number, sumXY: number): void {
    const b = this.n * 6;
    this.i32[b] = i;
    this.i32[b + 1] = j;
    this.i32[b + 2] = count;
    this.i32[b + 3] = countRel;
    this.f64[this.n * 3 + 2] = sumXY;
    this.n++;
    this.records++;
    if (this.n === 8192) this.flush();
  }

  private flush(): void {
    const bytes = new Uint8Array(this.buf, 0, this.n * RUN_RECORD_BYTES);
    let off = 0;
    while (off < bytes.byteLength) off += fs.writeSync(this.fd, bytes, off, bytes.byteLength - off);
    this.n = 0;
  }

  close(): void {
    this.flush();
    if (this.sync) fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
  }
}

/** Write sorted records as a scratch run file (not atomic, no fsync unless `sync`: spill folders only). */
export function writeRun(file: string, r: PairRecords, sync = false): void {
  const w = new RunWriter(file, sync);
  for (let k = 0; k < r.i.length; k++) w.push(r.i[k], r.j[k], r.count[k], r.countRel[k], r.sumXY[k]);
  w.close();
}

/** A sorted source of pair records read one at a time: `next()` advances, fields hold the current record. */
export interface PairCursor {
  i: number;
  j: number;
  count: number;
  countRel: number;
  sumXY: number;
  /** advance; false when exhausted */
  next(): boolean;
  close(): void;
}

/** Cursor over in-memory records. */
export class RecordsCursor implements PairCursor {
  i = -1; j = -1; count = 0; countRel = 0; sumXY = 0;
  private k = -1;
  constructor(private r: PairRecords) {}
  next(): boolean {
    this.k++;
    if (this.k >= this.r.i.length) return false;
    this.i = this.r.i[this.k]; this.j = this.r.j[this.k]; this.count = this.r.count[this.k];
    this.countRel = this.r.countRel[this.k]; this.sumXY = this.r.sumXY[this.k];
    return true;
  }
  close(): void {}
}

/** Cursor over a run file, read in chunks. */
export class RunCursor implements PairCursor {
  i = -1; j = -1; count = 0; countRel = 0; sumXY = 0;
  private fd: number;
  private total: number;
  private read = 0;
  private buf = new ArrayBuffer(RUN_RECORD_BYTES * 16384);
  private i32 = new Int32Array(this.buf);
  private f64 = new Float64Array(this.buf);
  private inBuf = 0;
  private k = 0;

  constructor(readonly file: string) {
    this.fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(this.fd).size;
    if (size % RUN_RECORD_BYTES !== 0) {
      fs.closeSync(this.fd);
      throw new Error(`${file}: ${size} bytes is not a whole number of ${RUN_RECORD_BYTES}-byte pair records (truncated run file?)`);
    }
    this.total = size / RUN_RECORD_BYTES;
  }

  next(): boolean {
    if (this.k >= this.inBuf) {
      const want = Math.min(16384, this.total - this.read);
      if (want <= 0) return false;
      const bytes = new Uint8Array(this.buf, 0, want * RUN_RECORD_BYTES);
      let off = 0;
      while (off < bytes.byteLength) {
        const n = fs.readSync(this.fd, bytes, off, bytes.byteLength - off, this.read * RUN_RECORD_BYTES + off);
        if (n === 0) throw new Error(`${this.file}: unexpected end of file`);
        off += n;
      }
      this.read += want;
      this.inBuf = want;
      this.k = 0;
    }
    const b = this.k * 6;
    this.i = this.i32[b]; this.j = this.i32[b + 1]; this.count = this.i32[b + 2]; this.countRel = this.i32[b + 3];
    this.sumXY = this.f64[this.k * 3 + 2];
    this.k++;
    return true;
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** Row-major k-way merge of sorted cursors; records with the same (i, j) are summed. */
export class MergeCursor implements PairCursor {
  i = -1; j = -1; count = 0; countRel = 0; sumXY = 0;
  private live: PairCursor[] = [];

  constructor(sources: PairCursor[]) {
    for (const s of sources) {
      if (s.next()) this.live.push(s);
      else s.close();
    }
  }

  next(): boolean {
    if (this.live.length === 0) return false;
    let bi = Infinity;
    let bj = Infinity;
    for (const s of this.live) {
      if (s.i < bi || (s.i === bi && s.j < bj)) { bi = s.i; bj = s.j; }
    }
    this.i = bi; this.j = bj; this.count = 0; this.countRel = 0; this.sumXY = 0;
    for (let k = 0; k < this.live.length; k++) {
      const s = this.live[k];
      if (s.i === bi && s.j === bj) {
        this.count += s.count; this.countRel += s.countRel; this.sumXY += s.sumXY;
        if (!s.next()) {
          s.close();
          this.live.splice(k, 1);
          k--;
        }
      }
    }
    return true;
  }

  close(): void {
    for (const s of this.live) s.close();
    this.live = [];
  }
}
