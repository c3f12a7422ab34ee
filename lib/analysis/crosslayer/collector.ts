import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeDirAtomic, writeJsonAtomic } from '../../io/atomic';
import { removeOnExit } from '../../io/folders';
import { loadSafetensors, writeSafetensors, RawTensor } from '../../io/safetensors';
import { LayerBatch, SparseCodes, toSparseCodes } from './sparse';
import { BlockedPairTable, MergeCursor, PairCursor, RUN_RECORD_BYTES, RecordBuffer, RunCursor, RunWriter, pairAccumulateAddon, pairMergeAddon, writeRun } from './pairTable';
import { FeatureMoments, relativeBound } from './stats';

/** Thresholds of the seed's dead-feature series: #features with count <= thr. */
export const FEATURE_THRESHOLDS = [0, 5, 10, 50, 100, 500, 1000, 5000, 10000];
/** Thresholds of the seed's dead-pair series: #pairs with co-activation count <= thr. */
export const PAIR_THRESHOLDS = [0, 5, 10, 50, 100];

/**
 * Merge sorted run files row-major into `out` (records with the same pair summed, from 0, in the order of `files`,
 * as MergeCursor sums them): natively on the native backend, else through the cursors.
 */
function mergeRunFiles(files: string[], out: string, sync: boolean): void {
  const addon = pairMergeAddon();
  if (addon) {
    addon.pairMergeRuns(files, out, sync);
    return;
  }
  const w = new RunWriter(out, sync);
  const cur = new MergeCursor(files.map((f) => new RunCursor(f)));
  while (cur.next()) w.push(cur.i, cur.j, cur.count, cur.countRel, cur.sumXY);
  cur.close();
  w.close();
}

/** Configuration of a cross-layer collection (Python-style names, as the seed and SAELens use). */
export interface CrossLayerConfig {
  n_layers: number;
  d_sae: number;
  /** tokens between dead-feature/dead-pair checkpoints (k*C for k = 1..floor(T/C)); 0 = no series. Default 65536 */
  checkpoint_tokens?: number;
  feature_thresholds?: number[];
  pair_thresholds?: number[];
  /**
   * Each feature's max activation over ALL tokens of the run `[n_layers][d_sae]` (from a first pass,
   * MaxActivationCollector). Enables the `_relative_activation` statistics; without it they are skipped.
   */
  max_activations?: Float32Array[] | null;
  /** Row shard: only features [r0, r1) of layer L are paired with layer L+1. Default: all. */
  rows?: [number, number];
  /** In-memory pair entries (all layer pairs together) before a table spills to disk (~50 bytes each). Default 8M */
  max_pairs_in_memory?: number;
  /** Where spilled runs go: a new `saelab-crosslayer-spill-*` folder is made in it (default: in the temp folder) and removed at the end, also on SIGTERM / SIGINT */
  spill_dir?: string;
}

interface RunRef {
  file: string;
  /** a spill file this collector wrote (deleted on compaction/dispose) rather than a checkpoint's file */
  owned: boolean;
}

/** The resolved settings. */
export interface ResolvedConfig {
  n_layers: number;
  d_sae: number;
  checkpoint_tokens: number;
  feature_thresholds: number[];
  pair_thresholds: number[];
  rows: [number, number];
  max_pairs_in_memory: number;
  relative: boolean;
}

/**
 * One pass over the feature activations of all layers collecting, for every adjacent layer pair, the
 * sums the seed's statistics need (co-active pairs only), the per-feature moments, max activations
 * and the dead-feature / dead-pair series. Feed it batches with `add`; checkpoint with `save`/`load`;
 * combine shards with `CrossLayerCollector.merge`; read results with `pairStatistics` (finalize.ts).
 */
export class CrossLayerCollector {
  readonly cfg: ResolvedConfig;
  tokens = 0;
  readonly moments: FeatureMoments[];
  /** per layer [d_sae]: max over nonzero values (-Infinity if none) */
  readonly maxNonzero: Float32Array[];
  /** per layer [d_sae]: #tokens with x != 0 */
  readonly nonzeroCount: Float64Array[];
  /** per layer [d_sae]: relative bound lb (only when max_activations was given) */
  readonly lowerBounds: Float32Array[] | null;
  readonly givenMax: Float32Array[] | null;
  readonly tables: BlockedPairTable[];
  private buffer: RecordBuffer | null = null;
  /** records a chunk may hold (0 until the first chunk): 2M, or one token's records when more (both paths cut chunks by it) */
  private recordCapacity = 0;
  readonly runs: RunRef[][];
  /** [steps][feature thresholds][n_layers] */
  deadFeatures: number[][][] = [];
  /** [pair thresholds][n_layers - 1][steps] */
  deadPairs: number[][][];
  /** tokens at each checkpoint step */
  stepTokens: number[] = [];
  /** most pair entries held in memory at once (all layer pairs) */
  peakPairsInMemory = 0;
  spills = 0;
  /** where the spill folder is made (config spill_dir; default the temp folder) */
  private readonly spillParent: string | undefined;
  private spillDir: string | undefined;
  private removeSpillDir: (() => void) | undefined;
  private spillSeq = 0;

  constructor(config: CrossLayerConfig) {
    const { n_layers, d_sae } = config;
    if (!Number.isInteger(n_layers) || n_layers < 2) throw new Error(`n_layers must be an integer >= 2 (layer pairs need two layers), got ${n_layers}`);
    if (!Number.isInteger(d_sae) || d_sae <= 0) throw new Error(`d_sae must be a positive integer, got ${d_sae}`);
    const rows = config.rows ?? [0, d_sae];
    if (!(Number.isInteger(rows[0]) && Number.isInteger(rows[1]) && rows[0] >= 0 && rows[1] <= d_sae && rows[0] < rows[1])) {
      throw new Error(`rows [${rows.join(', ')}] must satisfy 0 <= r0 < r1 <= d_sae (${d_sae})`);
    }
    const C = config.checkpoint_tokens ?? 65536;
    if (!Number.isInteger(C) || C < 0) throw new Error(`checkpoint_tokens must be a non-negative integer, got ${C}`);
    const given = config.max_activations ?? null;
    if (given) {
      if (given.length !== n_layers || given.some((m) => m.length !== d_sae)) {
        throw new Error(`max_activations must be ${n_layers} arrays of ${d_sae} values (one per layer), got ${given.length} arrays of ${given.map((m) => m.length).join('/')}`);
      }
    }
    this.cfg = {
      n_layers,
      d_sae,
      checkpoint_tokens: C,
      feature_thresholds: config.feature_thresholds ?? FEATURE_THRESHOLDS,
      pair_thresholds: config.pair_thresholds ?? PAIR_THRESHOLDS,
      rows: [rows[0], rows[1]],
      max_pairs_in_memory: config.max_pairs_in_memory ?? 8_000_000,
      relative: given !== null,
    };
    this.spillParent = config.spill_dir;
    this.givenMax = given ? given.map((m) => Float32Array.from(m)) : null;
    this.lowerBounds = given ? given.map((m) => Float32Array.from(m, relativeBound)) : null;
    this.moments = Array.from({ length: n_layers }, () => ({
      sumX: new Float64Array(d_sae), sumXX: new Float64Array(d_sae), count: new Float64Array(d_sae), countRel: new Float64Array(d_sae),
    }));
    this.maxNonzero = Array.from({ length: n_layers }, () => new Float32Array(d_sae).fill(-Infinity));
    this.nonzeroCount = Array.from({ length: n_layers }, () => new Float64Array(d_sae));
    this.tables = Array.from({ length: n_layers - 1 }, () => new BlockedPairTable(rows[0], rows[1]));
    for (const t of this.tables) t.trackThresholds(this.cfg.pair_thresholds);
    this.runs = Array.from({ length: n_layers - 1 }, () => []);
    this.deadPairs = this.cfg.pair_thresholds.map(() => Array.from({ length: n_layers - 1 }, () => []));
  }

  get nPairs(): number {
    return this.cfg.n_layers - 1;
  }

  /** Pair entries currently held in memory (all layer pairs). */
  get pairsInMemory(): number {
    let s = 0;
    for (const t of this.tables) s += t.size;
    return s;
  }

  /**
   * Add a batch: one entry per layer, each `[tokens, d_sae]` (tf.Tensor, Float32Array or SparseCodes),
   * all with the same tokens. Checkpoints fall at exact multiples of checkpoint_tokens, also inside a batch.
   */
  async add(layers: LayerBatch[]): Promise<void> {
    if (layers.length !== this.cfg.n_layers) throw new Error(`expected activations of ${this.cfg.n_layers} layers, got ${layers.length}`);
    const codes: SparseCodes[] = [];
    for (let L = 0; L < layers.length; L++) codes.push(await toSparseCodes(layers[L], this.cfg.d_sae, `layer ${L}`));
    for (let L = 1; L < codes.length; L++) {
      if (codes[L].T !== codes[0].T) throw new Error(`layer ${L} has ${codes[L].T} tokens in this batch, layer 0 has ${codes[0].T}: every layer must cover the same tokens`);
    }
    this.addSparse(codes);
  }

  /** Synchronous core of `add` for SparseCodes (one per layer, equal T). */
  addSparse(codes: SparseCodes[]): void {
    const T = codes[0].T;
    if (this.tokens + T > 2 ** 31 - 1) throw new Error(`more than 2^31 - 1 tokens in one collector: split the run into token shards and merge them`);
    const { n_layers, checkpoint_tokens: C } = this.cfg;
    // segments end at checkpoint boundaries, so each checkpoint sees exactly k*C tokens
    let t = 0;
    while (t < T) {
      const end = C > 0 ? Math.min(T, t + (C - (this.tokens % C))) : T;
      for (let L = 0; L < n_layers; L++) for (let u = t; u < end; u++) this.addFeatureMoments(L, codes[L], u);
      for (let P = 0; P < n_layers - 1; P++) this.accumulatePair(P, codes[P], codes[P + 1], t, end);
      this.tokens += end - t;
      t = end;
      if (C > 0 && this.tokens % C === 0) this.recordCheckpoint();
    }
  }

  /**
   * Co-occurrences of layer pair P on tokens [t0, t1), applied block-wise: for each chunk of tokens
   * that fits the record buffer, count the records per row block (|B_t| per active row, cheap), then
   * write them straight into their block's region and apply block by block.
   */
  private accumulatePair(P: number, A: SparseCodes, B: SparseCodes, t0: number, t1: number): void {
    const [r0, r1] = this.cfg.rows;
    const lbA = this.lowerBounds ? this.lowerBounds[P] : null;
    const lbB = this.lowerBounds ? this.lowerBounds[P + 1] : null;
    const table = this.tables[P];
    const budgetPerTable = Math.max(1, Math.floor(this.cfg.max_pairs_in_memory / this.nPairs));
    const addon = pairAccumulateAddon();
    if (addon) {
      // the same chunks, records and spill points, made and added natively (one call until a spill is due)
      for (let t = t0; t < t1;) {
        const r = table.accumulateNative(addon, A, B, t, t1, lbA, lbB, this.recordCapacity, budgetPerTable);
        this.recordCapacity = r.recordCapacity;
        this.notePeak();
        if (table.size > budgetPerTable) this.spill(P);
        t = r.t;
      }
      return;
    }
    const nb = table.blocks.length;
    const per = table.rowsPerBlock;
    const starts = new Int32Array(nb + 1);
    const fill = new Int32Array(nb);
    const aIdx = A.indices, aVal = A.values, bIdx = B.indices, bVal = B.values;
    let t = t0;
    while (t < t1) {
      // count phase: tokens [t, u) whose records fit the buffer
      starts.fill(0);
      let total = 0;
      let u = t;
      for (; u < t1; u++) {
        const nbT = B.indptr[u + 1] - B.indptr[u];
        if (nbT === 0) continue;
        let rowsT = 0;
        for (let a = A.indptr[u]; a < A.indptr[u + 1]; a++) if (aIdx[a] >= r0 && aIdx[a] < r1) rowsT++;
        const need = rowsT * nbT;
        const cap = this.recordCapacity > 0 ? this.recordCapacity : 1 << 21;
        if (total + need > cap && u > t && total > 0) break;
        if (this.recordCapacity === 0 || this.recordCapacity < need) this.recordCapacity = Math.max(1 << 21, need);
        for (let a = A.indptr[u]; a < A.indptr[u + 1]; a++) {
          const i = aIdx[a];
          if (i >= r0 && i < r1) starts[((i - r0) / per | 0) + 1] += nbT;
        }
        total += need;
      }
      if (total === 0) {
        t = u;
        continue;
      }
      for (let q = 0; q < nb; q++) { starts[q + 1] += starts[q]; fill[q] = starts[q]; }
      // fill phase
      if (!this.buffer || this.buffer.capacity !== this.recordCapacity) this.buffer = new RecordBuffer(this.recordCapacity);
      const buf = this.buffer;
      const bi = buf.i, bj = buf.j, bxy = buf.xy, bf = buf.flags;
      for (let v = t; v < u; v++) {
        const b0 = B.indptr[v], b1 = B.indptr[v + 1];
        if (b0 === b1) continue;
        for (let a = A.indptr[v]; a < A.indptr[v + 1]; a++) {
          const i = aIdx[a];
          if (i < r0 || i >= r1) continue;
          const x = aVal[a];
          const xPos = x > 0;
          const xRel = lbA !== null && x > lbA[i];
          const blk = (i - r0) / per | 0;
          let q = fill[blk];
          for (let b = b0; b < b1; b++) {
            const j = bIdx[b];
            const y = bVal[b];
            bi[q] = i; bj[q] = j; bxy[q] = x * y;
            bf[q] = (xPos && y > 0 ? 1 : 0) | (xRel && y > lbB![j] ? 2 : 0);
            q++;
          }
          fill[blk] = q;
        }
      }
      buf.n = total;
      table.addGrouped(buf, starts);
      this.notePeak();
      if (table.size > budgetPerTable) this.spill(P);
      t = u;
    }
  }

  private addFeatureMoments(L: number, codes: SparseCodes, t: number): void {
    const m = this.moments[L];
    const mx = this.maxNonzero[L];
    const nz = this.nonzeroCount[L];
    const lb = this.lowerBounds ? this.lowerBounds[L] : null;
    for (let k = codes.indptr[t]; k < codes.indptr[t + 1]; k++) {
      const f = codes.indices[k];
      const x = codes.values[k];
      m.sumX[f] += x;
      m.sumXX[f] += x * x;
      if (x > 0) m.count[f]++;
      if (lb !== null && x > lb[f]) m.countRel[f]++;
      if (x > mx[f]) mx[f] = x;
      nz[f]++;
    }
  }

  private notePeak(): void {
    const n = this.pairsInMemory;
    if (n > this.peakPairsInMemory) this.peakPairsInMemory = n;
  }

  /**
   * The folder of this collector's spilled runs: a new `saelab-crosslayer-spill-*` folder in the config's
   * spill_dir (created if missing, never removed) or the temp folder. It is removed by dispose(), at exit,
   * and on SIGTERM / SIGINT (removeOnExit).
   */
  private ensureSpillDir(): string {
    if (!this.spillDir) {
      const parent = this.spillParent ?? os.tmpdir();
      fs.mkdirSync(parent, { recursive: true });
      this.spillDir = fs.mkdtempSync(path.join(parent, 'saelab-crosslayer-spill-'));
      this.removeSpillDir = removeOnExit(this.spillDir);
    }
    return this.spillDir;
  }

  /** Write layer pair P's table as a sorted run file and empty it. */
  private spill(P: number): void {
    const file = path.join(this.ensureSpillDir(), `run_${process.pid}_${P}_${this.spillSeq++}.bin`);
    writeRun(file, this.tables[P].sorted(this.cfg.d_sae, this.cfg.d_sae));
    this.runs[P].push({ file, owned: true });
    this.tables[P].clear();
    this.spills++;
    this.compactRuns(P);
  }

  /**
   * Keep the runs of a layer pair few (logarithmic in the data): while the newest run is at least half
   * the size of the one before it, merge the two (like a binary counter), so every record is rewritten
   * O(log(total / run size)) times and a full merge reads few files.
   */
  private compactRuns(P: number): void {
    const runs = this.runs[P];
    const records = (r: RunRef): number => fs.statSync(r.file).size / RUN_RECORD_BYTES;
    while (runs.length >= 2 && records(runs[runs.length - 2]) <= 2 * records(runs[runs.length - 1])) {
      const b = runs.pop()!, a = runs.pop()!;
      const file = path.join(this.ensureSpillDir(), `run_${process.pid}_${P}_${this.spillSeq++}.bin`);
      mergeRunFiles([a.file, b.file], file, false);
      for (const r of [a, b]) if (r.owned) fs.rmSync(r.file, { force: true });
      runs.push({ file, owned: true });
    }
  }

  /** Row-major cursor over layer pair P's full accumulators (memory table merged with spilled runs). */
  pairCursor(P: number): PairCursor {
    const sources: PairCursor[] = [this.tables[P].cursor(this.cfg.d_sae, this.cfg.d_sae)];
    for (const r of this.runs[P]) sources.push(new RunCursor(r.file));
    return sources.length === 1 ? sources[0] : new MergeCursor(sources);
  }

  /** Record the dead-feature and dead-pair counts at the current token count. */
  private recordCheckpoint(): void {
    const { feature_thresholds: ft, pair_thresholds: pt, n_layers, d_sae } = this.cfg;
    const step: number[][] = ft.map(() => new Array(n_layers).fill(0));
    for (let L = 0; L < n_layers; L++) {
      const count = this.moments[L].count;
      for (let f = 0; f < d_sae; f++) {
        const c = count[f];
        for (let k = 0; k < ft.length; k++) if (c <= ft[k]) step[k][L]++;
      }
    }
    this.deadFeatures.push(step);
    const totalPairs = (this.cfg.rows[1] - this.cfg.rows[0]) * d_sae;
    for (let P = 0; P < n_layers - 1; P++) {
      const alive = new Array(pt.length).fill(0);
      if (this.runs[P].length === 0) {
        this.tables[P].countAbove(pt, alive);
      } else {
        const cur = this.pairCursor(P);
        while (cur.next()) for (let k = 0; k < pt.length; k++) if (cur.count > pt[k]) alive[k]++;
        cur.close();
      }
      for (let k = 0; k < pt.length; k++) this.deadPairs[k][P].push(totalPairs - alive[k]);
    }
    this.stepTokens.push(this.tokens);
  }

  /** Per-layer max activation over all tokens seen `[n_layers][d_sae]` (implicit zeros included). */
  maxActivations(): Float32Array[] {
    return this.maxNonzero.map((mx, L) => {
      const out = new Float32Array(this.cfg.d_sae);
      const nz = this.nonzeroCount[L];
      for (let f = 0; f < out.length; f++) out[f] = nz[f] < this.tokens ? Math.max(0, mx[f]) : mx[f];
      if (this.tokens === 0) out.fill(0);
      return out;
    });
  }

  /**
   * Save the whole state to `dir` (atomically): per-feature arrays and series in state.safetensors,
   * settings in state.json, each layer pair's merged accumulators in pairs_<L>_<L+1>.bin. Afterwards the
   * collector continues from the saved files (its memory tables and spill runs are folded into them).
   */
  async save(dir: string): Promise<void> {
    const { n_layers, d_sae } = this.cfg;
    const flat64 = (arrs: Float64Array[]): Float64Array => { const o = new Float64Array(n_layers * d_sae); arrs.forEach((a, L) => o.set(a, L * d_sae)); return o; };
    const flat32 = (arrs: Float32Array[]): Float32Array => { const o = new Float32Array(n_layers * d_sae); arrs.forEach((a, L) => o.set(a, L * d_sae)); return o; };
    const shape = [n_layers, d_sae];
    const steps = this.stepTokens.length;
    const nft = this.cfg.feature_thresholds.length;
    const npt = this.cfg.pair_thresholds.length;
    await writeDirAtomic(dir, (tmp) => {
      const tensors: Record<string, { dtype: 'F64' | 'F32' | 'I64'; shape: number[]; data: Float64Array | Float32Array | BigInt64Array }> = {
        sum_x: { dtype: 'F64', shape, data: flat64(this.moments.map((m) => m.sumX)) },
        sum_xx: { dtype: 'F64', shape, data: flat64(this.moments.map((m) => m.sumXX)) },
        count: { dtype: 'F64', shape, data: flat64(this.moments.map((m) => m.count)) },
        count_rel: { dtype: 'F64', shape, data: flat64(this.moments.map((m) => m.countRel)) },
        max_nonzero: { dtype: 'F32', shape, data: flat32(this.maxNonzero) },
        nonzero_count: { dtype: 'F64', shape, data: flat64(this.nonzeroCount) },
        dead_features: { dtype: 'I64', shape: [steps, nft, n_layers], data: BigInt64Array.from(this.deadFeatures.flat(2), (v) => BigInt(v)) },
        dead_feature_pairs: { dtype: 'I64', shape: [npt, n_layers - 1, steps], data: BigInt64Array.from(this.deadPairs.flat(2), (v) => BigInt(v)) },
        step_tokens: { dtype: 'I64', shape: [steps], data: BigInt64Array.from(this.stepTokens, (v) => BigInt(v)) },
      };
      if (this.givenMax) tensors.given_max_activations = { dtype: 'F32', shape, data: flat32(this.givenMax) };
      writeSafetensors(path.join(tmp, 'state.safetensors'), tensors);
      for (let P = 0; P < n_layers - 1; P++) {
        const out = path.join(tmp, `pairs_${P}_${P + 1}.bin`);
        if (pairMergeAddon() && this.runs[P].length > 0) {
          // the memory table as the first run (the cursor's first source), then one native merge of all runs
          const first = path.join(this.ensureSpillDir(), `run_${process.pid}_${P}_${this.spillSeq++}.bin`);
          writeRun(first, this.tables[P].sorted(this.cfg.d_sae, this.cfg.d_sae));
          try {
            mergeRunFiles([first, ...this.runs[P].map((r) => r.file)], out, true);
          } finally {
            fs.rmSync(first, { force: true });
          }
          continue;
        }
        const w = new RunWriter(out);
        const cur = this.pairCursor(P);
        while (cur.next()) w.push(cur.i, cur.j, cur.count, cur.countRel, cur.sumXY);
        cur.close();
        w.close();
      }
      writeJsonAtomic(path.join(tmp, 'state.json'), {
        format: 'saelab-crosslayer-state', version: 1, tokens: this.tokens, peak_pairs_in_memory: this.peakPairsInMemory, spills: this.spills,
        config: { n_layers, d_sae, checkpoint_tokens: this.cfg.checkpoint_tokens, feature_thresholds: this.cfg.feature_thresholds, pair_thresholds: this.cfg.pair_thresholds, rows: this.cfg.rows, max_pairs_in_memory: this.cfg.max_pairs_in_memory, relative: this.cfg.relative },
      });
    });
    const abs = path.resolve(dir);
    for (let P = 0; P < n_layers - 1; P++) {
      for (const r of this.runs[P]) if (r.owned) fs.rmSync(r.file, { force: true });
      this.runs[P] = [{ file: path.join(abs, `pairs_${P}_${P + 1}.bin`), owned: false }];
      this.tables[P].clear();
    }
  }

  /** Resume from a folder written by `save`. The pair files stay in that folder and are read from there. */
  static load(dir: string, options: { max_pairs_in_memory?: number; spill_dir?: string } = {}): CrossLayerCollector {
    const stateFile = path.join(dir, 'state.json');
    if (!fs.existsSync(stateFile)) throw new Error(`${dir}: no state.json; not a crosslayer checkpoint folder (written by CrossLayerCollector.save)`);
    const state = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
    if (state.format !== 'saelab-crosslayer-state') throw new Error(`${stateFile}: format is ${JSON.stringify(state.format)}, expected "saelab-crosslayer-state"`);
    const c = state.config;
    const { tensors } = loadSafetensors(path.join(dir, 'state.safetensors'));
    const need = (name: string): RawTensor => {
      const t = tensors[name];
      if (!t) throw new Error(`${path.join(dir, 'state.safetensors')}: missing tensor '${name}'`);
      return t;
    };
    const split64 = (name: string): Float64Array[] => { const d = need(name).data as Float64Array; return Array.from({ length: c.n_layers }, (_, L) => d.slice(L * c.d_sae, (L + 1) * c.d_sae)); };
    const split32 = (name: string): Float32Array[] => { const d = need(name).data as Float32Array; return Array.from({ length: c.n_layers }, (_, L) => d.slice(L * c.d_sae, (L + 1) * c.d_sae)); };
    const col = new CrossLayerCollector({
      n_layers: c.n_layers, d_sae: c.d_sae, checkpoint_tokens: c.checkpoint_tokens, feature_thresholds: c.feature_thresholds, pair_thresholds: c.pair_thresholds,
      rows: c.rows, max_pairs_in_memory: options.max_pairs_in_memory ?? c.max_pairs_in_memory, spill_dir: options.spill_dir,
      max_activations: c.relative ? split32('given_max_activations') : null,
    });
    col.tokens = state.tokens;
    col.peakPairsInMemory = state.peak_pairs_in_memory;
    col.spills = state.spills;
    const sx = split64('sum_x'), sxx = split64('sum_xx'), cnt = split64('count'), cr = split64('count_rel'), nz = split64('nonzero_count'), mx = split32('max_nonzero');
    for (let L = 0; L < c.n_layers; L++) {
      col.moments[L].sumX.set(sx[L]); col.moments[L].sumXX.set(sxx[L]); col.moments[L].count.set(cnt[L]); col.moments[L].countRel.set(cr[L]);
      col.nonzeroCount[L].set(nz[L]); col.maxNonzero[L].set(mx[L]);
    }
    const steps = Number((need('step_tokens').data as BigInt64Array).length);
    col.stepTokens = Array.from(need('step_tokens').data as BigInt64Array, Number);
    const df = Array.from(need('dead_features').data as BigInt64Array, Number);
    const nft = col.cfg.feature_thresholds.length, npt = col.cfg.pair_thresholds.length, nL = c.n_layers;
    col.deadFeatures = Array.from({ length: steps }, (_, s) => Array.from({ length: nft }, (_, k) => df.slice((s * nft + k) * nL, (s * nft + k + 1) * nL)));
    const dp = Array.from(need('dead_feature_pairs').data as BigInt64Array, Number);
    col.deadPairs = Array.from({ length: npt }, (_, k) => Array.from({ length: nL - 1 }, (_, P) => dp.slice((k * (nL - 1) + P) * steps, (k * (nL - 1) + P + 1) * steps)));
    const abs = path.resolve(dir);
    for (let P = 0; P < nL - 1; P++) {
      const f = path.join(abs, `pairs_${P}_${P + 1}.bin`);
      if (!fs.existsSync(f)) throw new Error(`${dir}: missing ${path.basename(f)}; the checkpoint is incomplete`);
      col.runs[P] = [{ file: f, owned: false }];
    }
    return col;
  }

  /**
   * Combine shards exactly. Token shards (same rows, consecutive tokens, given in token order): sums,
   * counts and pair accumulators add; the dead-feature/dead-pair series are those of the first shard
   * (they cover its tokens, the run's first ones; later checkpoints need the running totals of one
   * stream). Row shards (disjoint row ranges covering one range, same tokens): per-feature data must
   * agree, pair accumulators are the union and dead-pair counts add, so every output is exact.
   * The merged collector reads the shards' spill/checkpoint files: keep them until it is done.
   */
  static merge(shards: CrossLayerCollector[], options: { spill_dir?: string; max_pairs_in_memory?: number } = {}): CrossLayerCollector {
    if (shards.length === 0) throw new Error('merge needs at least one shard');
    const a = shards[0].cfg;
    for (const [k, s] of shards.entries()) {
      const b = s.cfg;
      if (b.n_layers !== a.n_layers || b.d_sae !== a.d_sae) throw new Error(`shard ${k}: n_layers/d_sae ${b.n_layers}/${b.d_sae} differ from shard 0's ${a.n_layers}/${a.d_sae}`);
      if (b.checkpoint_tokens !== a.checkpoint_tokens || JSON.stringify(b.feature_thresholds) !== JSON.stringify(a.feature_thresholds) || JSON.stringify(b.pair_thresholds) !== JSON.stringify(a.pair_thresholds)) {
        throw new Error(`shard ${k}: checkpoint_tokens or thresholds differ from shard 0`);
      }
      if (b.relative !== a.relative) throw new Error(`shard ${k}: relative statistics ${b.relative ? 'on' : 'off'} but shard 0 has them ${a.relative ? 'on' : 'off'}`);
      if (a.relative && !shards[0].givenMax!.every((m, L) => m.every((v, f) => v === s.givenMax![L][f]))) {
        throw new Error(`shard ${k}: max_activations differ from shard 0's; every shard must use the run's global max activations`);
      }
    }
    const sameRows = shards.every((s) => s.cfg.rows[0] === a.rows[0] && s.cfg.rows[1] === a.rows[1]);
    let rows: [number, number];
    if (sameRows) {
      rows = a.rows;
    } else {
      const sorted = shards.map((s) => s.cfg.rows).sort((x, y) => x[0] - y[0]);
      for (let k = 1; k < sorted.length; k++) {
        if (sorted[k][0] !== sorted[k - 1][1]) throw new Error(`row shards must tile one range without gaps or overlaps; got ${sorted.map((r) => `[${r[0]}, ${r[1]})`).join(' ')}`);
      }
      rows = [sorted[0][0], sorted[sorted.length - 1][1]];
      for (const [k, s] of shards.entries()) {
        if (s.tokens !== shards[0].tokens) throw new Error(`row shard ${k} saw ${s.tokens} tokens, shard 0 saw ${shards[0].tokens}: row shards must cover the same tokens`);
        if (!s.moments.every((m, L) => m.count.every((v, f) => v === shards[0].moments[L].count[f]))) throw new Error(`row shard ${k}: feature counts differ from shard 0's; row shards must see the same tokens`);
      }
    }
    const out = new CrossLayerCollector({
      n_layers: a.n_layers, d_sae: a.d_sae, checkpoint_tokens: a.checkpoint_tokens, feature_thresholds: a.feature_thresholds, pair_thresholds: a.pair_thresholds,
      rows, max_activations: shards[0].givenMax, spill_dir: options.spill_dir, max_pairs_in_memory: options.max_pairs_in_memory ?? a.max_pairs_in_memory,
    });
    const first = shards[0];
    if (sameRows) {
      for (const s of shards) {
        out.tokens += s.tokens;
        for (let L = 0; L < a.n_layers; L++) {
          const m = out.moments[L], sm = s.moments[L];
          for (let f = 0; f < a.d_sae; f++) {
            m.sumX[f] += sm.sumX[f]; m.sumXX[f] += sm.sumXX[f]; m.count[f] += sm.count[f]; m.countRel[f] += sm.countRel[f];
            out.nonzeroCount[L][f] += s.nonzeroCount[L][f];
            if (s.maxNonzero[L][f] > out.maxNonzero[L][f]) out.maxNonzero[L][f] = s.maxNonzero[L][f];
          }
        }
      }
      out.deadFeatures = first.deadFeatures.map((x) => x.map((y) => y.slice()));
      out.deadPairs = first.deadPairs.map((x) => x.map((y) => y.slice()));
      out.stepTokens = first.stepTokens.slice();
    } else {
      out.tokens = first.tokens;
      for (let L = 0; L < a.n_layers; L++) {
        out.moments[L].sumX.set(first.moments[L].sumX); out.moments[L].sumXX.set(first.moments[L].sumXX);
        out.moments[L].count.set(first.moments[L].count); out.moments[L].countRel.set(first.moments[L].countRel);
        out.nonzeroCount[L].set(first.nonzeroCount[L]); out.maxNonzero[L].set(first.maxNonzero[L]);
      }
      out.deadFeatures = first.deadFeatures.map((x) => x.map((y) => y.slice()));
      out.stepTokens = first.stepTokens.slice();
      out.deadPairs = first.deadPairs.map((x, k) => x.map((y, P) => y.map((_, st) => shards.reduce((acc, s) => acc + s.deadPairs[k][P][st], 0))));
    }
    for (let P = 0; P < a.n_layers - 1; P++) {
      for (const s of shards) {
        if (s.tables[P].size > 0) {
          const file = path.join(out.ensureSpillDir(), `run_${process.pid}_${P}_${out.spillSeq++}.bin`);
          writeRun(file, s.tables[P].sorted(a.d_sae, a.d_sae));
          out.runs[P].push({ file, owned: true });
        }
        for (const r of s.runs[P]) out.runs[P].push({ file: r.file, owned: false });
      }
    }
    out.peakPairsInMemory = Math.max(...shards.map((s) => s.peakPairsInMemory));
    out.spills = shards.reduce((acc, s) => acc + s.spills, 0);
    return out;
  }

  /** Delete this collector's own spill files (not checkpoint files). */
  dispose(): void {
    for (const rs of this.runs) for (const r of rs) if (r.owned) fs.rmSync(r.file, { force: true });
    this.removeSpillDir?.();
    this.removeSpillDir = undefined;
    this.spillDir = undefined;
  }
}
