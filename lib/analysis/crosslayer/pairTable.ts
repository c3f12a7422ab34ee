import * as fs from 'fs';
import * as path from 'path';

/**
 * Per-pair accumulators of one layer pair (feature i of layer L, feature j of layer L+1), kept only for
 * pairs that were ever both nonzero on a token:
 *   count    = #tokens with x_i > 0 and y_j > 0
 *   countRel = #tokens with x_i > lb_i and y_j > lb_j (relative-activation bounds)
 *   sumXY    = sum over tokens of x_i * y_j
 * Open addressing with linear probing; `keyI = -1` marks an empty slot.
 */
export class PairTable {
  size = 0;
  capacity: number;
  private mask: number;
  keyI: Int32Array;
  keyJ: Int32Array;
  count: Int32Array;
  countRel: Int32Array;
  sumXY: Float64Array;

  constructor(initialCapacity = 1 << 12) {
    let cap = 16;
    while (cap < initialCapacity) cap *= 2;
    this.capacity = cap;
    this.mask = cap - 1;
    this.keyI = new Int32Array(cap).fill(-1);
    this.keyJ = new Int32Array(cap);
    this.count = new Int32Array(cap);
    this.countRel = new Int32Array(cap);
    this.sumXY = new Float64Array(cap);
  }

  /** Bytes held by the table's arrays. */
  get bytes(): number {
    return this.capacity * 24;
  }

  /** Slot of pair (i, j), inserting a zeroed entry when absent. */
  slot(i: number, j: number): number {
    let h = Math.imul(i, 0x9e3779b1) ^ Math.imul(j + 0x7f4a7c15, 0x85ebca77);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 13;
    const mask = this.mask;
    const keyI = this.keyI;
    const keyJ = this.keyJ;
    let s = h & mask;
    for (;;) {
      const ki = keyI[s];
      if (ki === i && keyJ[s] === j) return s;
      if (ki === -1) {
        keyI[s] = i;
        keyJ[s] = j;
        this.size++;
        if (this.size * 2 > this.capacity) {
          this.grow();
          return this.find(i, j);
        }
        return s;
      }
      s = (s + 1) & mask;
    }
  }

  /** Slot of pair (i, j) or -1. */
  find(i: number, j: number): number {
    let h = Math.imul(i, 0x9e3779b1) ^ Math.imul(j + 0x7f4a7c15, 0x85ebca77);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 13;
    let s = h & this.mask;
    for (;;) {
      const ki = this.keyI[s];
      if (ki === i && this.keyJ[s] === j) return s;
      if (ki === -1) return -1;
      s = (s + 1) & this.mask;
    }
  }

  private grow(): void {
    const old = { keyI: this.keyI, keyJ: this.keyJ, count: this.count, countRel: this.countRel, sumXY: this.sumXY, cap: this.capacity };
    this.capacity *= 2;
    this.mask = this.capacity - 1;
    this.keyI = new Int32Array(this.capacity).fill(-1);
    this.keyJ = new Int32Array(this.capacity);
    this.count = new Int32Array(this.capacity);
    this.countRel = new Int32Array(this.capacity);
    this.sumXY = new Float64Array(this.capacity);
    this.size = 0;
    for (let s = 0; s < old.cap; s++) {
      if (old.keyI[s] === -1) continue;
      const t = this.slotNoGrow(old.keyI[s], old.keyJ[s]);
      this.count[t] = old.count[s];
      this.countRel[t] = old.countRel[s];
      this.sumXY[t] = old.sumXY[s];
    }
  }

  private slotNoGrow(i: number, j: number): number {
    let h = Math.imul(i, 0x9e3779b1) ^ Math.imul(j + 0x7f4a7c15, 0x85ebca77);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 13;
    let s = h & this.mask;
    while (this.keyI[s] !== -1) s = (s + 1) & this.mask;
    this.keyI[s] = i;
    this.keyJ[s] = j;
    this.size++;
    return s;
  }

  /** Drop every entry and shrink back to a small capacity. */
  clear(): void {
    const cap = 1 << 12;
    this.capacity = cap;
    this.mask = cap - 1;
    this.keyI = new Int32Array(cap).fill(-1);
    this.keyJ = new Int32Array(cap);
    this.count = new Int32Array(cap);
    this.countRel = new Int32Array(cap);
    this.sumXY = new Float64Array(cap);
    this.size = 0;
  }

  /** Entries in row-major (i, then j) order; `dRows`/`dCols` bound the indices (two counting sorts). */
  sorted(dRows: number, dCols: number): PairRecords {
    const n = this.size;
    const slots = new Int32Array(n);
    let p = 0;
    for (let s = 0; s < this.capacity; s++) if (this.keyI[s] !== -1) slots[p++] = s;
    const byJ = countingSort(slots, (s) => this.keyJ[s], dCols);
    const order = countingSort(byJ, (s) => this.keyI[s], dRows);
    const out = emptyRecords(n);
    for (let k = 0; k < n; k++) {
      const s = order[k];
      out.i[k] = this.keyI[s];
      out.j[k] = this.keyJ[s];
      out.count[k] = this.count[s];
      out.countRel[k] = this.countRel[s];
      out.sumXY[k] = this.sumXY[s];
    }
    return out;
  }
}

/** Stable counting sort of `items` by an integer key in [0, range). */
function countingSort(items: Int32Array, key: (x: number) => number, range: number): Int32Array {
  const counts = new Int32Array(range + 1);
  for (let k = 0; k < items.length; k++) counts[key(items[k]) + 1]++;
  for (let r = 0; r < range; r++) counts[r + 1] += counts[r];
  const out = new Int32Array(items.length);
  for (let k = 0; k < items.length; k++) out[counts[key(items[k])]++] = items[k];
  return out;
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
