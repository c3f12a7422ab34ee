import * as fs from 'fs';
import * as path from 'path';
import { SafetensorsFile, writeSafetensors } from '../../io/safetensors';
import { CrossLayerCollector, CrossLayerConfig } from './collector';
import { MaxActivationCollector } from './moments';
import { LayerBatch, SparseCodes, toSparseCodes, sliceTokens } from './sparse';
import { interruptible } from '../../notebook/interrupt';

/**
 * A source of feature activations: `batches(start)` yields batches (one LayerBatch `[tokens, d_sae]`
 * per layer) beginning exactly at global token `start`, in the same order every time it is called
 * (the driver calls it once per pass, and again from the saved position when resuming).
 */
export interface FeatureCodeSource {
  n_layers: number;
  d_sae: number;
  batches(start: number): AsyncIterable<LayerBatch[]>;
}

export interface CrossLayerRunOptions {
  /** collector settings (n_layers and d_sae come from the source) */
  config?: Omit<CrossLayerConfig, 'n_layers' | 'd_sae' | 'max_activations'>;
  /** compute the relative-activation variants (needs the max-activation pass). Default true */
  relative?: boolean;
  /** stop after this many tokens (default: when the source ends) */
  max_tokens?: number;
  /** folder for resumable state: max_activations.safetensors after pass 1, collector/ during pass 2 */
  state_dir?: string;
  /** save the collector every this many tokens (needs state_dir). Default 1,048,576 */
  save_every_tokens?: number;
  /**
   * Keep pass 1's sparse codes in memory, up to this many bytes, and feed them to pass 2 instead of
   * reading the source again (halves the model work of short runs; above the budget the source is read
   * twice as usual). Default 0 (off)
   */
  cache_bytes?: number;
  /** progress callback: once as each pass starts (tokens = where it starts), then after every batch */
  onProgress?: (p: { pass: 'max' | 'collect'; tokens: number }) => void;
}

/**
 * Run both passes over a source with progress and resumable checkpoints: pass 1 (max activations,
 * skipped when `relative` is false or already saved), pass 2 (all statistics). With `state_dir`, an
 * interrupted run continues from the last save when called again with the same arguments.
 */
export async function runCrossLayer(source: FeatureCodeSource, options: CrossLayerRunOptions = {}): Promise<CrossLayerCollector> {
  const relative = options.relative ?? true;
  const limit = options.max_tokens ?? Infinity;
  const stateDir = options.state_dir;
  const saveEvery = options.save_every_tokens ?? 1 << 20;
  const stopPoint = interruptible('cross-layer statistics');
  let maxActs: Float32Array[] | null = null;
  let cached: SparseCodes[][] | null = null;
  const maxFile = stateDir ? path.join(stateDir, 'max_activations.safetensors') : null;
  if (relative) {
    if (maxFile && fs.existsSync(maxFile)) {
      const f = SafetensorsFile.open(maxFile);
      try {
        const flat = f.readFloat32('max_activations');
        maxActs = Array.from({ length: source.n_layers }, (_, L) => flat.slice(L * source.d_sae, (L + 1) * source.d_sae));
      } finally {
        f.close();
      }
    } else {
      const mp = new MaxActivationCollector(source.n_layers, source.d_sae);
      let cacheBytes = 0;
      cached = (options.cache_bytes ?? 0) > 0 ? [] : null;
      options.onProgress?.({ pass: 'max', tokens: 0 }); // the pass starts (its time includes the first batch)
      for await (const batch of source.batches(0)) {
        const take = await clip(batch, source.d_sae, limit - mp.tokens);
        if (!take) break;
        await mp.add(take);
        if (cached) {
          for (const c of take) cacheBytes += 8 * c.indices.length + 4 * c.indptr.length;
          if (cacheBytes <= options.cache_bytes!) cached.push(take);
          else cached = null;
        }
        options.onProgress?.({ pass: 'max', tokens: mp.tokens });
        if (mp.tokens >= limit) break;
        await stopPoint('in pass 1 (max activations)');
      }
      maxActs = mp.result();
      if (maxFile) {
        const flat = new Float32Array(source.n_layers * source.d_sae);
        maxActs.forEach((m, L) => flat.set(m, L * source.d_sae));
        writeSafetensors(maxFile, { max_activations: { dtype: 'F32', shape: [source.n_layers, source.d_sae], data: flat } }, { tokens: String(mp.tokens) });
      }
    }
  }
  const colDir = stateDir ? path.join(stateDir, 'collector') : null;
  const col = colDir && fs.existsSync(path.join(colDir, 'state.json'))
    ? CrossLayerCollector.load(colDir, { max_pairs_in_memory: options.config?.max_pairs_in_memory, spill_dir: options.config?.spill_dir })
    : new CrossLayerCollector({ ...(options.config ?? {}), n_layers: source.n_layers, d_sae: source.d_sae, max_activations: maxActs });
  let lastSave = col.tokens;
  if (col.tokens < limit) {
    options.onProgress?.({ pass: 'collect', tokens: col.tokens });
    for await (const batch of (cached && col.tokens === 0 ? cachedBatches(cached) : source.batches(col.tokens))) {
      const take = await clip(batch, source.d_sae, limit - col.tokens);
      if (!take) break;
      await col.add(take);
      options.onProgress?.({ pass: 'collect', tokens: col.tokens });
      if (colDir && col.tokens - lastSave >= saveEvery) {
        await col.save(colDir);
        lastSave = col.tokens;
      }
      if (col.tokens >= limit) break;
      await stopPoint(`in pass 2 at ${col.tokens} tokens${colDir ? '; the last saved state is kept and resumed on rerun' : ''}`);
    }
  }
  if (colDir && col.tokens !== lastSave) await col.save(colDir);
  return col;
}

async function* cachedBatches(batches: SparseCodes[][]): AsyncIterable<SparseCodes[]> {
  yield* batches;
}

/** The first `room` tokens of a batch (null when no room is left). */
async function clip(batch: LayerBatch[], d: number, room: number): Promise<SparseCodes[] | null> {
  if (room <= 0) return null;
  const codes = await Promise.all(batch.map((b, L) => toSparseCodes(b, d, `layer ${L}`)));
  return codes[0].T <= room ? codes : codes.map((c) => sliceTokens(c, 0, room));
}
