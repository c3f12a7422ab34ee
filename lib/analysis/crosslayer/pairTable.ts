import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { loadNativeAddon } from '../../backend/native';
import { NativeAddon } from '../../backend/nativeKernels/common';

type PairAddon = Required<Pick<NativeAddon, 'pairInsert' | 'pairRehash' | 'pairSortBlocks'>>;
export type PairAccumulateAddon = Required<Pick<NativeAddon, 'pairAccumulate'>>;
export type PairMergeAddon = Required<Pick<NativeAddon, 'pairMergeRuns'>>;

/**
 * The native pair-table functions when saelab runs on its native backend (the tables then fill and sort on every
 * core, bitwise as the JavaScript code below would), else undefined.
 */
function pairAddon(): PairAddon | undefined {
  if (tf.getBackend() !== 'native') return undefined;
  const { addon } = loadNativeAddon();
  return addon?.pairInsert && addon.pairRehash && addon.pairSortBlocks ? (addon as PairAddon) : undefined;
}

/** The native record generator + insert (one call per layer pair and run of chunks) on the native backend, else undefined. */
export function pairAccumulateAddon(): PairAccumulateAddon | undefined {
  if (tf.getBackend() !== 'native') return undefined;
  const { addon } = loadNativeAddon();
  return addon?.pairAccumulate ? (addon as PairAccumulateAddon) : undefined;
}

/** The native merge of run files on the native backend, else undefined. */
export function pairMergeAddon(): PairMergeAddon | undefined {
  if (tf.getBackend() !== 'native') return undefined;
  const { addon } = loadNativeAddon();
  return addon?.pairMergeRuns ? (addon as PairMergeAddon) : undefined;
}

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
  /**
   * Incremental dead-pair counting (set by BlockedPairTable.trackThresholds): `cross[c] = k` when a count
   * reaching c passes threshold k (c = thr_k + 1), else -1; `alive[k]` counts entries with count > thr_k.
   * Exact while every add carries c in {0, 1}.
   */
  cross: Int8Array | null = null;
  alive: Float64Array | null = null;

  constructor(initialCapacity = 16) {
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

  /** The slot arrays (for the native insert and sort): 6 int32 and 3 float64 words per slot over one buffer. */
  get slots(): { i32: Int32Array; f64: Float64Array } {
    return { i32: this.i32, f64: this.f64 };
  }

  /** Take over slots the native code grew (an ArrayBuffer of 24 bytes a slot, a power-of-two count) holding `size` entries. */
  adoptSlots(buf: ArrayBuffer, size: number): void {
    this.i32 = new Int32Array(buf);
    this.f64 = new Float64Array(buf);
    this.capacity = buf.byteLength / 24;
    this.mask = this.capacity - 1;
    this.size = size;
  }

  /** The native insert's count of entries. */
  setSize(n: number): void {
    this.size = n;
  }

  /** grow() of several tables, the re-insertion done natively and in parallel (same slots as grow()). */
  static growNative(addon: PairAddon, tables: PairTable[]): void {
    const old = tables.map((t) => ({ i32: t.i32, f64: t.f64 }));
    for (const t of tables) t.alloc(t.capacity * 2);
    const sizes = new Int32Array(tables.length);
    addon.pairRehash(old.map((o) => o.i32), old.map((o) => o.f64), tables.map((t) => t.i32), tables.map((t) => t.f64), sizes);
    tables.forEach((t, k) => { t.size = sizes[k]; });
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
        const nc = (i32[b + 2] += c);
        i32[b + 3] += cr;
        this.f64[s * 3 + 2] += xy;
        if (c === 1 && this.cross !== null && nc < this.cross.length && this.cross[nc] >= 0) this.alive![this.cross[nc]]++;
        return;
      }
      if (ki === 0) {
        i32[b] = key;
        i32[b + 1] = j;
        i32[b + 2] = c;
        i32[b + 3] = cr;
        this.f64[s * 3 + 2] = xy;
        if (c === 1 && this.cross !== null && this.cross.length > 1 && this.cross[1] >= 0) this.alive![this.cross[1]]++;
        if (++this.size * 2 > this.capacity) this.grow();
        return;
      }
      s = (s + 1) & mask;
    }
  }

  private grow(): void {
    const oldI = this.i32, oldF = this.f64, oldCap = this.capacity;
    const cross = this.cross;
    this.cross = null; // re-inserting existing entries passes no threshold
    this.alloc(oldCap * 2);
    for (let s = 0; s < oldCap; s++) {
      const b = s * 6;
      if (oldI[b] === 0) continue;
      this.add(oldI[b] - 1, oldI[b + 1], oldF[s * 3 + 2], oldI[b + 2], oldI[b + 3]);
    }
    this.cross = cross;
  }

  /** Drop every entry and shrink back to a small capacity. */
  clear(): void {
    this.alloc(16);
  }

  /** Add to alive[k] the number of entries with count > thresholds[k]. */
  countAbove(thresholds: number[], alive: number[]): void {
    const i32 = this.i32;
    for (let s = 0; s < this.capacity; s++) {
      if (i32[s * 6] === 0) continue;
      const c = i32[s * 6 + 2];
      for (let k = 0; k < thresholds.length; k++) if (c > thresholds[k]) alive[k]++;
    }
  }

  /**
   * Entries in row-major (i, then j) order; `dRows`/`dCols` bound the indices. The table is read once
   * in slot order into compact arrays, then sorted by an LSD radix sort on (j, then i) in 11-bit digits
   * (sequential passes), and the payloads gathered by the resulting permutation.
   */
  sorted(dRows: number, dCols: number, rowOffset = 0): PairRecords {
    const n = this.size;
    const i32 = this.i32, f64 = this.f64;
    const span = (dRows - rowOffset) * dCols;
    if (span <= 2 ** 31) return this.sortedByCompositeKey(dCols, rowOffset, span);
    const ci = new Int32Array(n), cj = new Int32Array(n), cc = new Int32Array(n), ccr = new Int32Array(n);
    const cs = new Float64Array(n);
    let p = 0;
    for (let s = 0; s < this.capacity; s++) {
      const b = s * 6;
      if (i32[b] === 0) continue;
      ci[p] = i32[b] - 1 - rowOffset; cj[p] = i32[b + 1]; cc[p] = i32[b + 2]; ccr[p] = i32[b + 3]; cs[p] = f64[s * 3 + 2];
      p++;
    }
    let perm = new Int32Array(n);
    for (let k = 0; k < n; k++) perm[k] = k;
    let keysI = ci.slice(), keysJ = cj.slice();
    const passes = (d: number): number[] => {
      const shifts: number[] = [];
      for (let sh = 0; (d - 1) >>> sh > 0 || sh === 0; sh += 11) shifts.push(sh);
      return shifts;
    };
    let tmpPerm = new Int32Array(n), tmpI = new Int32Array(n), tmpJ = new Int32Array(n);
    const counts = new Int32Array(2049);
    const pass = (byJ: boolean, shift: number): void => {
      const key = byJ ? keysJ : keysI;
      counts.fill(0);
      for (let k = 0; k < n; k++) counts[((key[k] >>> shift) & 2047) + 1]++;
      for (let r = 0; r < 2048; r++) counts[r + 1] += counts[r];
      for (let k = 0; k < n; k++) {
        const dst = counts[(key[k] >>> shift) & 2047]++;
        tmpPerm[dst] = perm[k]; tmpI[dst] = keysI[k]; tmpJ[dst] = keysJ[k];
      }
      [perm, tmpPerm] = [tmpPerm, perm];
      [keysI, tmpI] = [tmpI, keysI];
      [keysJ, tmpJ] = [tmpJ, keysJ];
    };
    for (const sh of passes(dCols)) pass(true, sh);
    for (const sh of passes(dRows - rowOffset)) pass(false, sh);
    if (rowOffset !== 0) for (let k = 0; k < n; k++) keysI[k] += rowOffset;
    const out: PairRecords = { i: keysI, j: keysJ, count: new Int32Array(n), countRel: new Int32Array(n), sumXY: new Float64Array(n) };
    for (let k = 0; k < n; k++) {
      const q = perm[k];
      out.count[k] = cc[q]; out.countRel[k] = ccr[q]; out.sumXY[k] = cs[q];
    }
    return out;
  }
  /**
   * Row-major order when (i - rowOffset) * dCols + j < span fits 32 bits: the occupied slots' keys and slot
   * numbers are radix-sorted on that one key (11-bit digits), then the payloads read from the slots.
   */
  private sortedByCompositeKey(dCols: number, rowOffset: number, span: number): PairRecords {
    const n = this.size;
    const i32 = this.i32, f64 = this.f64;
    let key = new Uint32Array(n), slot = new Int32Array(n);
    let p = 0;
    for (let s = 0; s < this.capacity; s++) {
      const b = s * 6;
      if (i32[b] === 0) continue;
      key[p] = (i32[b] - 1 - rowOffset) * dCols + i32[b + 1];
      slot[p++] = s;
    }
    let tmpKey = new Uint32Array(n), tmpSlot = new Int32Array(n);
    const counts = new Int32Array(2049);
    for (let sh = 0; sh === 0 || (span - 1) / 2 ** sh >= 1; sh += 11) {
      counts.fill(0);
      for (let k = 0; k < n; k++) counts[((key[k] >>> sh) & 2047) + 1]++;
      for (let r = 0; r < 2048; r++) counts[r + 1] += counts[r];
      for (let k = 0; k < n; k++) {
        const dst = counts[(key[k] >>> sh) & 2047]++;
        tmpKey[dst] = key[k]; tmpSlot[dst] = slot[k];
      }
      [key, tmpKey] = [tmpKey, key];
      [slot, tmpSlot] = [tmpSlot, slot];
    }
    const out: PairRecords = { i: new Int32Array(n), j: new Int32Array(n), count: new Int32Array(n), countRel: new Int32Array(n), sumXY: new Float64Array(n) };
    for (let k = 0; k < n; k++) {
      const s = slot[k], b = s * 6;
      out.i[k] = i32[b] - 1; out.j[k] = i32[b + 1]; out.count[k] = i32[b + 2]; out.countRel[k] = i32[b + 3]; out.sumXY[k] = f64[s * 3 + 2];
    }
    return out;
  }
}

/** Co-occurrence records waiting to be added: (i, j, x*y, flags: bit 0 = both > 0, bit 1 = both > lb). */
export class RecordBuffer {
  n = 0;
  readonly i: Int32Array;
  readonly j: Int32Array;
  readonly xy: Float64Array;
  readonly flags: Uint8Array;
  constructor(readonly capacity = 1 << 21) {
    this.i = new Int32Array(capacity);
    this.j = new Int32Array(capacity);
    this.xy = new Float64Array(capacity);
    this.flags = new Uint8Array(capacity);
  }
}

/**
 * The pair table of one layer pair split by row blocks of layer-L features: buffered records are
 * grouped by block (one counting-sort pass) and applied block by block, so each block's small hash
 * table stays in cache while it is updated (about 2.5x fewer CPU seconds than one large table at
 * millions of pairs). Row blocks are contiguous, so concatenated block outputs stay row-major.
 */
export class BlockedPairTable {
  readonly blocks: PairTable[];
  readonly rowsPerBlock: number;
  private grouped: RecordBuffer | null = null;
  /** incremental counts of entries above the tracked thresholds (valid while every add has c in {0, 1}) */
  private tracked: { thresholds: number[]; alive: Float64Array; valid: boolean } | null = null;

  constructor(readonly r0: number, readonly r1: number, nBlocks = 1024) {
    const nb = Math.max(1, Math.min(nBlocks, r1 - r0));
    this.rowsPerBlock = Math.ceil((r1 - r0) / nb);
    this.blocks = Array.from({ length: Math.ceil((r1 - r0) / this.rowsPerBlock) }, () => new PairTable());
  }

  get size(): number {
    let n = 0;
    for (const b of this.blocks) n += b.size;
    return n;
  }

  get bytes(): number {
    let n = 0;
    for (const b of this.blocks) n += b.bytes;
    return n;
  }

  add(i: number, j: number, xy: number, c: number, cr: number): void {
    if (this.tracked && c !== 0 && c !== 1) this.tracked.valid = false;
    this.blocks[((i - this.r0) / this.rowsPerBlock) | 0].add(i, j, xy, c, cr);
  }

  /**
   * Keep the number of entries with count > each threshold up to date as records are added, so
   * `countAbove` with these thresholds needs no scan of the table (dead pairs at every checkpoint).
   */
  trackThresholds(thresholds: number[]): void {
    const top = Math.max(-1, ...thresholds) + 2;
    if (top > 1 << 20 || thresholds.length > 127) { this.tracked = null; return; }
    const cross = new Int8Array(top).fill(-1);
    thresholds.forEach((t, k) => { if (t >= 0) cross[t + 1] = k; });
    const alive = new Float64Array(thresholds.length);
    const counts = new Array(thresholds.length).fill(0);
    for (const b of this.blocks) b.countAbove(thresholds, counts);
    alive.set(counts);
    this.tracked = { thresholds: thresholds.slice(), alive, valid: true };
    for (const b of this.blocks) { b.cross = cross; b.alive = alive; }
  }

  /** Apply and empty a buffer of records (their i must lie in [r0, r1)). */
  addRecords(buf: RecordBuffer): void {
    const n = buf.n;
    if (n === 0) return;
    const nb = this.blocks.length;
    const per = this.rowsPerBlock;
    const r0 = this.r0;
    if (!this.grouped || this.grouped.capacity < n) this.grouped = new RecordBuffer(buf.capacity);
    const g = this.grouped;
    const start = new Int32Array(nb + 1);
    for (let k = 0; k < n; k++) start[((buf.i[k] - r0) / per | 0) + 1]++;
    for (let b = 0; b < nb; b++) start[b + 1] += start[b];
    const fill = start.slice(0, nb);
    for (let k = 0; k < n; k++) {
      const q = fill[(buf.i[k] - r0) / per | 0]++;
      g.i[q] = buf.i[k]; g.j[q] = buf.j[k]; g.xy[q] = buf.xy[k]; g.flags[q] = buf.flags[k];
    }
    for (let b = 0; b < nb; b++) {
      const t = this.blocks[b];
      for (let q = start[b]; q < start[b + 1]; q++) {
        const f = g.flags[q];
        t.add(g.i[q], g.j[q], g.xy[q], f & 1, f >> 1);
      }
    }
    buf.n = 0;
  }

  /** Apply records already grouped by block: block b's records are [starts[b], starts[b + 1]). */
  addGrouped(buf: RecordBuffer, starts: Int32Array): void {
    const addon = pairAddon();
    if (addon) {
      this.addGroupedNative(addon, buf, starts);
      buf.n = 0;
      return;
    }
    const bi = buf.i, bj = buf.j, bxy = buf.xy, bf = buf.flags;
    for (let b = 0; b < this.blocks.length; b++) {
      const t = this.blocks[b];
      for (let q = starts[b]; q < starts[b + 1]; q++) {
        const f = bf[q];
        t.add(bi[q], bj[q], bxy[q], f & 1, f >> 1);
      }
    }
    buf.n = 0;
  }

  /** addGrouped natively: the blocks fill in parallel; a block whose table must grow stops, grows, and resumes. */
  private addGroupedNative(addon: PairAddon, buf: RecordBuffer, starts: Int32Array): void {
    const nb = this.blocks.length;
    const pos = starts.slice(0, nb);
    const ends = starts.slice(1, nb + 1);
    const cross = this.blocks[0].cross;
    const alive = cross ? this.blocks[0].alive : null;
    for (;;) {
      const views = this.blocks.map((b) => b.slots);
      const caps = Int32Array.from(this.blocks, (b) => b.capacity);
      const sizes = Int32Array.from(this.blocks, (b) => b.size);
      const stopped = addon.pairInsert(views.map((v) => v.i32), views.map((v) => v.f64), caps, sizes, pos, ends, buf.i, buf.j, buf.xy, buf.flags, cross, alive);
      this.blocks.forEach((b, q) => b.setSize(sizes[q]));
      if (stopped === 0) return;
      PairTable.growNative(addon, this.blocks.filter((b) => b.size * 2 > b.capacity));
    }
  }

  /**
   * CrossLayerCollector.accumulatePair natively: the records of tokens [t0, t1) of codes A (rows) x B (columns) made
   * and added in one call, cut into the same chunks (`recordCapacity`) as the JavaScript loop; returns after the first
   * chunk that leaves more than `budget` entries (the caller spills), with the token reached and the record capacity.
   */
  accumulateNative(addon: PairAccumulateAddon, A: SparseCodesLike, B: SparseCodesLike, t0: number, t1: number,
    lbA: Float32Array | null, lbB: Float32Array | null, recordCapacity: number, budget: number): { t: number; recordCapacity: number } {
    const cross = this.blocks[0].cross;
    const alive = cross ? this.blocks[0].alive : null;
    const views = this.blocks.map((b) => b.slots);
    const caps = Int32Array.from(this.blocks, (b) => b.capacity);
    const sizes = Int32Array.from(this.blocks, (b) => b.size);
    const params = Float64Array.of(t0, t1, this.r0, this.r1, this.rowsPerBlock, recordCapacity, budget);
    const grown: (ArrayBuffer | undefined)[] = new Array(this.blocks.length);
    try {
      addon.pairAccumulate(views.map((v) => v.i32), views.map((v) => v.f64), caps, sizes, A.indptr, A.indices, A.values, B.indptr, B.indices, B.values,
        lbA, lbB, cross, alive, params, grown);
    } finally {
      // whatever the call did before an error is kept (the tables stay consistent)
      this.blocks.forEach((b, q) => { const g = grown[q]; if (g) b.adoptSlots(g, sizes[q]); else b.setSize(sizes[q]); });
    }
    return { t: params[0], recordCapacity: params[5] };
  }

  clear(): void {
    for (const b of this.blocks) b.clear();
    if (this.tracked) { this.tracked.alive.fill(0); this.tracked.valid = true; }
  }

  /** Add to alive[k] the number of entries with count > thresholds[k] (no scan when they are tracked). */
  countAbove(thresholds: number[], alive: number[]): void {
    const tr = this.tracked;
    if (tr && tr.valid && tr.thresholds.length === thresholds.length && tr.thresholds.every((t, k) => t === thresholds[k])) {
      for (let k = 0; k < thresholds.length; k++) alive[k] += tr.alive[k];
      return;
    }
    for (const b of this.blocks) b.countAbove(thresholds, alive);
  }

  /** Block q's entries in row-major order. */
  sortedBlock(q: number, dRows: number, dCols: number): PairRecords {
    return this.blocks[q].sorted(Math.min(dRows, this.r0 + (q + 1) * this.rowsPerBlock), dCols, this.r0 + q * this.rowsPerBlock);
  }

  /** Blocks [q0, q1)'s entries in row-major order, sorted natively in parallel. */
  sortedBlocksNative(addon: PairAddon, q0: number, q1: number, dCols: number): PairRecords {
    const blocks = this.blocks.slice(q0, q1);
    const start = new Int32Array(blocks.length + 1);
    blocks.forEach((b, k) => { start[k + 1] = start[k] + b.size; });
    const out = emptyRecords(start[blocks.length]);
    const views = blocks.map((b) => b.slots);
    const offsets = Int32Array.from(blocks, (_, k) => this.r0 + (q0 + k) * this.rowsPerBlock);
    addon.pairSortBlocks(views.map((v) => v.i32), views.map((v) => v.f64), offsets, dCols, out.i, out.j, out.count, out.countRel, out.sumXY, start);
    return out;
  }

  /** A cursor over all entries in row-major order, sorting one block at a time (no full sorted copy). */
  cursor(dRows: number, dCols: number): PairCursor {
    return new BlocksCursor(this, dRows, dCols);
  }

  /** All entries in row-major order (sorted natively in parallel on the native backend). */
  sorted(dRows: number, dCols: number): PairRecords {
    const addon = pairAddon();
    if (addon) return this.sortedBlocksNative(addon, 0, this.blocks.length, dCols);
    const parts = this.blocks.map((_, q) => this.sortedBlock(q, dRows, dCols));
    const n = parts.reduce((a, p) => a + p.i.length, 0);
    const out = emptyRecords(n);
    let o = 0;
    for (const p of parts) {
      out.i.set(p.i, o); out.j.set(p.j, o); out.count.set(p.count, o); out.countRel.set(p.countRel, o); out.sumXY.set(p.sumXY, o);
      o += p.i.length;
    }
    return out;
  }
}

/** The CSR fields of SparseCodes the native accumulate reads. */
export interface SparseCodesLike {
  indptr: Int32Array;
  indices: Int32Array;
  values: Float32Array;
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

/** Cursor over a blocked table's entries, block by block (row blocks are contiguous, so row-major overall). */
class BlocksCursor implements PairCursor {
  i = -1; j = -1; count = 0; countRel = 0; sumXY = 0;
  private q = -1;
  private r: PairRecords | null = null;
  private k = 0;
  private readonly addon = pairAddon();
  constructor(private readonly table: BlockedPairTable, private readonly dRows: number, private readonly dCols: number) {}
  next(): boolean {
    while (!this.r || this.k >= this.r.i.length) {
      if (this.q + 1 >= this.table.blocks.length) { this.r = null; return false; }
      if (this.addon) {
        // natively: the next blocks (about 4M entries at most, at least one block) sorted in parallel
        const blocks = this.table.blocks;
        const q0 = this.q + 1;
        let q1 = q0 + 1, n = blocks[q0].size;
        while (q1 < blocks.length && n + blocks[q1].size <= 1 << 22) n += blocks[q1++].size;
        this.r = this.table.sortedBlocksNative(this.addon, q0, q1, this.dCols);
        this.q = q1 - 1;
      } else {
        this.q++;
        this.r = this.table.blocks[this.q].size > 0 ? this.table.sortedBlock(this.q, this.dRows, this.dCols) : null;
      }
      this.k = 0;
    }
    const r = this.r, k = this.k++;
    this.i = r.i[k]; this.j = r.j[k]; this.count = r.count[k]; this.countRel = r.countRel[k]; this.sumXY = r.sumXY[k];
    return true;
  }
  close(): void {
    this.r = null;
  }
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
