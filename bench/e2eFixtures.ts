import * as fs from 'fs';
import * as path from 'path';
import { SafetensorsStreamWriter, StreamTensorSpec } from '../lib/io/safetensorsStream';
import { writeJsonAtomic } from '../lib/io/atomic';

/**
 * Inputs of the end-to-end benchmarks (bench/torch.bench.ts), made once into a folder and reused:
 * a GPT-2-small-shaped Hugging Face folder with random weights (config.json + model.safetensors, 124M parameters),
 * 8 x 128 token ids, a [4096, 768] activation file and a standard SAE 768 -> 24576 whose b_enc gives ~50 active
 * features per token on it (SAELens folder: cfg.json + sae_weights.safetensors).
 */

export const E2E_GPT2 = { nLayer: 12, nEmbd: 768, nHead: 12, nPositions: 1024, vocab: 50257 };
export const E2E_TOKENS = { batch: 8, pos: 128 };
export const E2E_SAE = { tokens: 4096, dIn: 768, dSae: 24576, bEnc: -2.87 };

/** Deterministic standard normals (xorshift + Box-Muller), `scale` times, into `out`. */
function fillNormal(out: Float32Array, seed: number, scale: number): Float32Array {
  let s = seed >>> 0 || 1;
  const u = (): number => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
  for (let i = 0; i < out.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u()));
    const t = 2 * Math.PI * u();
    out[i] = r * Math.cos(t) * scale;
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(t) * scale;
  }
  return out;
}

function writeTensors(file: string, tensors: Array<{ spec: StreamTensorSpec; fill: (n: number) => Float32Array }>, metadata?: Record<string, string>): void {
  const w = new SafetensorsStreamWriter(file, tensors.map((t) => t.spec), metadata);
  try {
    for (const t of tensors) w.append(t.fill(t.spec.shape.reduce((a, b) => a * b, 1)));
    w.close();
  } catch (e) {
    w.abort();
    throw e;
  }
}

/** The GPT-2-small-shaped model folder (HF layout: wte, wpe, h.N.*, ln_f; Conv1D weights [in, out]). */
function makeGpt2(dir: string): void {
  const { nLayer: L, nEmbd: d, nPositions, vocab } = E2E_GPT2;
  const t: Array<{ spec: StreamTensorSpec; fill: (n: number) => Float32Array }> = [];
  let seed = 100;
  const normal = (name: string, shape: number[], scale: number) => { const sd = seed++; t.push({ spec: { name, dtype: 'F32', shape }, fill: (n) => fillNormal(new Float32Array(n), sd, scale) }); };
  const constant = (name: string, shape: number[], v: number) => t.push({ spec: { name, dtype: 'F32', shape }, fill: (n) => new Float32Array(n).fill(v) });
  normal('wte.weight', [vocab, d], 0.02);
  normal('wpe.weight', [nPositions, d], 0.01);
  for (let l = 0; l < L; l++) {
    const p = `h.${l}.`;
    constant(`${p}ln_1.weight`, [d], 1); constant(`${p}ln_1.bias`, [d], 0);
    normal(`${p}attn.c_attn.weight`, [d, 3 * d], 0.02); normal(`${p}attn.c_attn.bias`, [3 * d], 0.01);
    normal(`${p}attn.c_proj.weight`, [d, d], 0.02); normal(`${p}attn.c_proj.bias`, [d], 0.01);
    constant(`${p}ln_2.weight`, [d], 1); constant(`${p}ln_2.bias`, [d], 0);
    normal(`${p}mlp.c_fc.weight`, [d, 4 * d], 0.02); normal(`${p}mlp.c_fc.bias`, [4 * d], 0.01);
    normal(`${p}mlp.c_proj.weight`, [4 * d, d], 0.02); normal(`${p}mlp.c_proj.bias`, [d], 0.01);
  }
  constant('ln_f.weight', [d], 1); constant('ln_f.bias', [d], 0);
  fs.mkdirSync(dir, { recursive: true });
  writeTensors(path.join(dir, 'model.safetensors'), t, { format: 'pt' });
  writeJsonAtomic(path.join(dir, 'config.json'), {
    architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', activation_function: 'gelu_new', n_embd: d, n_head: E2E_GPT2.nHead, n_layer: L,
    n_positions: nPositions, n_ctx: nPositions, vocab_size: vocab, layer_norm_epsilon: 1e-5, tie_word_embeddings: true,
  });
}

function makeSae(dir: string, inputFile: string): void {
  const { tokens, dIn, dSae, bEnc } = E2E_SAE;
  writeTensors(inputFile, [{ spec: { name: 'x', dtype: 'F32', shape: [tokens, dIn] }, fill: (n) => fillNormal(new Float32Array(n), 7, 1) }]);
  fs.mkdirSync(dir, { recursive: true });
  writeTensors(path.join(dir, 'sae_weights.safetensors'), [
    { spec: { name: 'W_enc', dtype: 'F32', shape: [dIn, dSae] }, fill: (n) => fillNormal(new Float32Array(n), 8, 1 / Math.sqrt(dIn)) },
    { spec: { name: 'b_enc', dtype: 'F32', shape: [dSae] }, fill: (n) => new Float32Array(n).fill(bEnc) },
    { spec: { name: 'W_dec', dtype: 'F32', shape: [dSae, dIn] }, fill: (n) => fillNormal(new Float32Array(n), 9, 1 / Math.sqrt(dSae)) },
    { spec: { name: 'b_dec', dtype: 'F32', shape: [dIn] }, fill: (n) => new Float32Array(n) },
  ], { format: 'pt' });
  writeJsonAtomic(path.join(dir, 'cfg.json'), {
    architecture: 'standard', d_in: dIn, d_sae: dSae, dtype: 'float32', device: 'cpu', apply_b_dec_to_input: true, normalize_activations: 'none', sae_lens_version: '6.18.0',
    metadata: { model_name: 'gpt2', hook_name: 'blocks.6.hook_resid_pre', hook_head_index: null, prepend_bos: true, context_size: 128 },
  });
}

export interface E2EFixtures { gpt2Dir: string; tokens: string; saeDir: string; saeInput: string }

/** Make (or reuse) the fixtures under `root`. */
export function e2eFixtures(root: string): E2EFixtures {
  const gpt2Dir = path.join(root, 'gpt2-small-random');
  const saeDir = path.join(root, 'sae-768x24576');
  const saeInput = path.join(root, 'sae-input.safetensors');
  if (!fs.existsSync(path.join(gpt2Dir, 'config.json'))) makeGpt2(gpt2Dir);
  if (!fs.existsSync(path.join(saeDir, 'cfg.json')) || !fs.existsSync(saeInput)) makeSae(saeDir, saeInput);
  const rows: string[] = [];
  for (let b = 0; b < E2E_TOKENS.batch; b++) {
    rows.push(Array.from({ length: E2E_TOKENS.pos }, (_, p) => ((b * E2E_TOKENS.pos + p) * 7919) % E2E_GPT2.vocab).join(','));
  }
  return { gpt2Dir, tokens: rows.join(';'), saeDir, saeInput };
}
