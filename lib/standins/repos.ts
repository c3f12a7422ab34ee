/**
 * The repo contents of each kind of stand-in: model checkpoints (config.json, safetensors in the
 * hub's dtype and sharding, tokenizer files, a card), SAE releases (one SAELens folder per SAE id)
 * and text datasets (JSON lines under the split's file names).
 */
import * as fs from 'fs';
import * as path from 'path';
import { SafetensorsStreamWriter } from '../io/safetensorsStream';
import { getRelease } from '../sae/registry';
import { DATASETS, MODEL_REPOS, ModelRepoSpec, SAE_RELEASES, saeFolder } from './catalog';
import { checkpointTensors, hiddenSize, residualVariance, scaledConfig, scaledSaeWidth, scaledTokenizerSize, StandinScale, TensorSpec, tensorBytes } from './shapes';
import { tensorChunks, ValueStream } from './fill';
import { tokenizerFiles } from './tokenizerFiles';
import { RepoFile, RepoWrite, textFile } from './repoWriter';
import { chainDocuments, WordChain } from './text';
import { writeSaeFolder } from './saes';

/** Options shared by every stand-in. */
export interface StandinOptions {
  cacheRoot: string;
  scale: StandinScale;
  seed: number;
}

function card(title: string, body: string): string {
  return `---\ntags: [saelab-standin]\n---\n# ${title} (saelab stand-in)\n\n${body}\n\nMade by \`saelab make-standins\`: the real repo's layout and configuration with seeded random contents. ` +
    'It exists to run saelab at the published shapes without the hub; its numbers mean nothing about the real model.\n';
}

export function modelSpec(repoId: string): ModelRepoSpec {
  const s = MODEL_REPOS[repoId];
  if (!s) throw new Error(`make-standins: no stand-in recipe for model ${repoId} (known: ${Object.keys(MODEL_REPOS).join(', ')})`);
  return s;
}

/** The value streams of a model repo at a revision: the base's values, a finetune's or an earlier checkpoint's perturbation. */
function valueStreams(spec: ModelRepoSpec, revision: string): ValueStream[] {
  const base = spec.finetuneOf ?? spec.repoId;
  const streams: ValueStream[] = [{ key: base, scale: 1 }];
  if (spec.finetuneOf) streams.push({ key: spec.repoId, scale: 0.15 });
  const rev = revision === 'main' && spec.mainIs ? spec.mainIs : revision;
  const m = /^step(\d+)$/.exec(rev);
  if (m && spec.revisions) {
    const last = Math.max(...spec.revisions.map((r) => Number(r.replace('step', ''))));
    const f = 1 - Number(m[1]) / last;
    if (f > 0) streams.push({ key: `${spec.repoId}@${rev}`, scale: f });
  }
  return streams;
}

/** Group tensors into shards of at most maxShardBytes (in order; a tensor larger than that gets its own). */
function shardGroups(tensors: TensorSpec[], max: number | null): TensorSpec[][] {
  if (max === null) return [tensors];
  const groups: TensorSpec[][] = [];
  let cur: TensorSpec[] = [];
  let size = 0;
  for (const t of tensors) {
    const b = tensorBytes(t);
    if (cur.length && size + b > max) { groups.push(cur); cur = []; size = 0; }
    cur.push(t);
    size += b;
  }
  if (cur.length) groups.push(cur);
  return groups;
}

/** Write one safetensors file of `tensors`, streaming each tensor's values. */
function writeTensorFile(dest: string, tensors: TensorSpec[], seed: number, streams: ValueStream[], onBytes?: (n: number) => void): void {
  const w = new SafetensorsStreamWriter(dest, tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })), { format: 'pt' });
  try {
    for (const t of tensors) {
      for (const chunk of tensorChunks(t, seed, streams)) {
        w.append(chunk as unknown as Float32Array);
        onBytes?.(chunk.byteLength);
      }
    }
    w.close();
  } catch (e) {
    w.abort();
    throw e;
  }
}

/** A model repo at one revision. `onBytes` reports weight bytes written (progress). */
export function modelRepo(o: StandinOptions, repoId: string, revision: string, onBytes?: (n: number) => void): RepoWrite {
  const spec = modelSpec(repoId);
  const config = scaledConfig(spec, o.scale);
  const tensors = checkpointTensors(spec, config);
  const streams = valueStreams(spec, revision);
  const total = tensors.reduce((s, t) => s + tensorBytes(t), 0);
  // tiny stand-ins shard at the same fraction of their size as the real checkpoint, so they have as many shards
  let maxShard = spec.maxShardBytes;
  if (maxShard !== null && o.scale !== 'full') {
    const full = checkpointTensors(spec, scaledConfig(spec, 'full')).reduce((s, t) => s + tensorBytes(t), 0);
    maxShard = Math.ceil((total * maxShard) / full);
  }
  const groups = shardGroups(tensors, maxShard);
  const files: RepoFile[] = [textFile('config.json', JSON.stringify(config, null, 2) + '\n')];
  const tok = tokenizerFiles(spec.tokenizer, { size: scaledTokenizerSize(spec, o.scale) });
  for (const [name, text] of Object.entries(tok)) files.push(textFile(name, text));
  if (groups.length === 1) {
    files.push({ path: 'model.safetensors', bytes: total, write: (dest) => writeTensorFile(dest, tensors, o.seed, streams, onBytes) });
  } else {
    const pad = (k: number) => String(k).padStart(5, '0');
    const weightMap: Record<string, string> = {};
    groups.forEach((g, i) => {
      const name = `model-${pad(i + 1)}-of-${pad(groups.length)}.safetensors`;
      for (const t of g) weightMap[t.name] = name;
      files.push({ path: name, bytes: g.reduce((s, t) => s + tensorBytes(t), 0), write: (dest) => writeTensorFile(dest, g, o.seed, streams, onBytes) });
    });
    files.push(textFile('model.safetensors.index.json', JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + '\n'));
  }
  files.push(textFile('README.md', card(repoId, `Revision \`${revision}\`; ${tensors.length} tensors, ${(total / 1e9).toFixed(2)} GB in ${spec.dtype}` +
    `${spec.finetuneOf ? `; weights are ${spec.finetuneOf}'s stand-in plus a seeded perturbation` : ''}.`)));
  return {
    cacheRoot: o.cacheRoot, repoId, repoType: 'model', revision, files,
    identity: { scale: o.scale, seed: o.seed, revision, config, dtype: spec.dtype, streams, shards: groups.map((g) => g.length) },
  };
}

/** d_in of a model's residual stream at a scale. */
export function modelWidth(repoId: string, scale: StandinScale): number {
  const spec = modelSpec(repoId);
  return hiddenSize(spec.family, scaledConfig(spec, scale));
}

/** Blocks run before a hook's activation (resid_pre of L: L; resid_post of L: L + 1). */
export function blocksBefore(hook: string): number {
  const m = /^blocks\.(\d+)\.hook_(resid_pre|resid_post)$/.exec(hook);
  if (!m) throw new Error(`make-standins: SAE hook '${hook}' is not a residual-stream hook`);
  return Number(m[1]) + (m[2] === 'resid_post' ? 1 : 0);
}

/** An SAE release repo holding the folders of `saeIds` (added to what an earlier run wrote). */
export function saeRepo(o: StandinOptions, release: string, saeIds: string[]): RepoWrite {
  const spec = SAE_RELEASES[release];
  if (!spec) throw new Error(`make-standins: no stand-in recipe for SAE release ${release} (known: ${Object.keys(SAE_RELEASES).join(', ')})`);
  const info = getRelease(release)!;
  const model = modelSpec(spec.modelRepo);
  const config = scaledConfig(model, o.scale);
  const dIn = hiddenSize(model.family, config);
  const dSae = scaledSaeWidth(spec.dSae, dIn, o.scale);
  const normalised = (info.config_overrides as Record<string, unknown> | null)?.normalize_activations === 'constant_norm_rescale';
  const files: RepoFile[] = [];
  let repoId = info.repo_id;
  for (const id of saeIds) {
    const { repoId: r, folder } = saeFolder(release, id);
    repoId = r;
    const cfg = spec.cfg(id, Number(/^blocks\.(\d+)\./.exec(id)?.[1] ?? 0), dIn, dSae);
    const bytes = 4 * (2 * dIn * dSae + dSae + dIn);
    // the whole folder is written under a temporary name and renamed: cfg.json marks it complete
    files.push({
      path: `${folder}/cfg.json`, bytes,
      write: (dest) => {
        const dir = path.dirname(dest);
        const tmp = `${dir}.tmp-${process.pid}`;
        fs.rmSync(tmp, { recursive: true, force: true });
        writeSaeFolder(tmp, {
          cfg, dIn, dSae, seed: o.seed, key: `${release}/${folder}`, sparsity: spec.sparsity,
          activationVariance: normalised ? 1 : residualVariance(model.family, config, blocksBefore(id)),
        });
        fs.rmSync(dir, { recursive: true, force: true });
        fs.renameSync(tmp, dir);
      },
    });
  }
  files.push(textFile('README.md', card(release, `SAELens release \`${release}\` at d_sae ${dSae}, d_in ${dIn}.`)));
  return { cacheRoot: o.cacheRoot, repoId, repoType: 'model', revision: info.revision ?? 'main', files, identity: { scale: o.scale, seed: o.seed, release, dSae } };
}

/** A text dataset of about `words` words (train split), in files of at most ~128 MB. */
export function datasetRepo(o: StandinOptions, repoId: string, words: number, chain: () => Promise<WordChain>): RepoWrite {
  const spec = DATASETS[repoId];
  if (!spec) throw new Error(`make-standins: no stand-in recipe for dataset ${repoId} (known: ${Object.keys(DATASETS).join(', ')})`);
  const perFile = 20_000_000;
  const n = Math.max(1, Math.ceil(words / perFile));
  const files: RepoFile[] = [];
  for (let i = 0; i < n; i++) {
    const target = Math.min(perFile, words - i * perFile);
    files.push({
      path: spec.file(i, n), bytes: target * 6,
      write: async (dest) => {
        // each file has its own seeded stream, so a resumed run writes the same bytes
        const docs = chainDocuments(await chain(), o.seed * 1000 + i);
        const tmp = `${dest}.tmp-${process.pid}`;
        const fd = fs.openSync(tmp, 'w');
        try {
          let count = 0;
          let buf: string[] = [];
          while (count < target) {
            const d = docs.next().value as string;
            count += d.split(' ').length;
            buf.push(JSON.stringify({ text: d, meta: { source: 'saelab-standin' } }));
            if (buf.length >= 256) { fs.writeSync(fd, buf.join('\n') + '\n'); buf = []; }
          }
          if (buf.length) fs.writeSync(fd, buf.join('\n') + '\n');
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        fs.renameSync(tmp, dest);
      },
    });
  }
  files.push(textFile('README.md', card(repoId, `About ${words.toLocaleString('en-US')} words of seeded pseudo-English (a word-bigram chain over the Brown-corpus demo text) in the \`train\` split.`)));
  return { cacheRoot: o.cacheRoot, repoId, repoType: 'dataset', revision: 'main', files, identity: { scale: o.scale, seed: o.seed, words, files: n } };
}
