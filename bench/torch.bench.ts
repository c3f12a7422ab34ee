import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import * as tf from '@tensorflow/tfjs';
import { GPT2_SMALL, SAE_SHAPE, makeModelForward, makeSaeForward, makeSaeTrainStep } from './backendWorkloads';
import { E2E_SAE, E2E_TOKENS, e2eFixtures } from './e2eFixtures';
import { userEnvironment } from '../lib/backend/native';

/**
 * saelab against PyTorch doing the same work on the same CPU, back to back (A B A B ..., medians of the rounds),
 * for each row of docs/performance.md:
 *  - in process: GPT-2-small forward 8 x 128, SAE encode+decode 4096 x 768 -> 24576 at L0 ~50, SAE training
 *    step (bench/backendWorkloads.ts against bench/torch/workloads.py);
 *  - end to end, whole processes: `saelab cache` against bench/torch/cache.py (with and without logits) and
 *    `saelab sae` against bench/torch/sae.py, wall seconds and peak RSS.
 * Needs torch for /usr/bin/python3 (Debian's python3-torch) or SAELAB_BENCH_PYTHON; without it, says so and skips.
 * SAELAB_BENCH_ROUNDS (default 3) rounds; SAELAB_BENCH_TORCH=inproc,e2e picks the parts; SAELAB_BENCH_DIR holds the
 * end-to-end inputs (default $TMPDIR/saelab-bench-e2e, made once: a 0.5 GB model and a 0.2 GB SAE).
 */

const ROOT = path.resolve(__dirname, '..', '..');
const TORCH_DIR = path.join(ROOT, 'bench', 'torch');
/** The middle value (the mean of the two middle values of an even count). */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function python(): string | undefined {
  const py = process.env.SAELAB_BENCH_PYTHON ?? '/usr/bin/python3';
  const r = spawnSync(py, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  return r.status === 0 ? py : undefined;
}

/** Median ms of `reps` steps after one warm-up step. */
function timeSteps(make: () => { step: () => void; dispose: () => void }, reps: number): number {
  const inst = make();
  try {
    inst.step();
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      inst.step();
      times.push(performance.now() - t0);
    }
    return median(times);
  } finally {
    inst.dispose();
  }
}

function torchWorkload(py: string, workload: string, reps: number): number {
  const r = spawnSync(py, [path.join(TORCH_DIR, 'workloads.py'), '--workloads', workload, '--reps', String(reps), '--sae-tokens', String(SAE_SHAPE.tokens)], { encoding: 'utf8', maxBuffer: 1 << 24, env: torchEnvironment() });
  if (r.status !== 0) throw new Error(`bench/torch/workloads.py ${workload} failed: ${r.stderr.trim().split('\n').pop()}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!).ms;
}

/**
 * The environment torch runs in: the user's (without the thread settings saelab's addon adds to its own process,
 * which change torch's speed: on this 2-core VM OMP_WAIT_POLICY=PASSIVE made its GPT-2 forward 1.5x faster), plus
 * SAELAB_BENCH_TORCH_ENV ("K=V,K=V") to time torch tuned.
 */
function torchEnvironment(): NodeJS.ProcessEnv {
  const env = userEnvironment();
  for (const kv of (process.env.SAELAB_BENCH_TORCH_ENV ?? '').split(',').filter(Boolean)) {
    const i = kv.indexOf('=');
    if (i < 1) throw new Error(`SAELAB_BENCH_TORCH_ENV: '${kv}' is not K=V`);
    env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return env;
}

/** One whole-process run: wall seconds and peak RSS in MiB (from GNU time when present); torch's in its own environment. */
function runProcess(cmd: string[], label: string, torch = false): { s: number; rssMiB?: number } {
  const gnuTime = fs.existsSync('/usr/bin/time');
  const rssFile = path.join(os.tmpdir(), `saelab-bench-rss-${process.pid}.txt`);
  const argv = gnuTime ? ['/usr/bin/time', '-f', '%M', '-o', rssFile, ...cmd] : cmd;
  const t0 = performance.now();
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', maxBuffer: 1 << 24, env: torch ? torchEnvironment() : { ...process.env, SAELAB_PROGRESS: '0' } });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${label} failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
  let rssMiB: number | undefined;
  if (gnuTime && fs.existsSync(rssFile)) {
    rssMiB = Number(fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop()) / 1024;
    fs.rmSync(rssFile, { force: true });
  }
  return { s, rssMiB };
}

interface Row { work: string; saelab: string; torch: string; ratio: number; rounds: number[] }

function report(rows: Row[]): void {
  console.log('\n| work | saelab | torch | ratio (median of rounds) | rounds |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.work} | ${r.saelab} | ${r.torch} | ${r.ratio.toFixed(2)}x | ${r.rounds.map((x) => x.toFixed(2)).join(' ')} |`);
}

async function inProcess(py: string, rounds: number, rows: Row[]): Promise<void> {
  const reps = Number(process.env.SAELAB_BENCH_REPS ?? 3);
  const gptTokens = GPT2_SMALL.batch * GPT2_SMALL.pos;
  const work: Array<{ name: string; label: string; tokens: number; make: () => { step: () => void; dispose: () => void } }> = [
    { name: 'gpt2', label: `GPT-2-small forward ${GPT2_SMALL.batch}x${GPT2_SMALL.pos}, in process`, tokens: gptTokens, make: () => makeModelForward(GPT2_SMALL) },
    { name: 'sae-fwd', label: `SAE encode+decode ${SAE_SHAPE.dIn}x${SAE_SHAPE.dSae}, ${SAE_SHAPE.tokens} tokens, L0 ~50, in process`, tokens: SAE_SHAPE.tokens, make: () => makeSaeForward(SAE_SHAPE) },
    { name: 'sae-train', label: `SAE training step ${SAE_SHAPE.dIn}x${SAE_SHAPE.dSae}, ${SAE_SHAPE.tokens} tokens, Adam, in process`, tokens: SAE_SHAPE.tokens, make: () => makeSaeTrainStep(SAE_SHAPE) },
  ];
  const only = process.env.SAELAB_BENCH_WORKLOADS?.split(',');
  for (const w of work) {
    if (only && !only.includes(w.name)) continue;
    const a: number[] = [];
    const b: number[] = [];
    for (let r = 0; r < rounds; r++) {
      a.push(timeSteps(w.make, reps));
      b.push(torchWorkload(py, w.name, reps));
      console.log(`  ${w.name} round ${r + 1}: saelab ${a[r].toFixed(0)} ms, torch ${b[r].toFixed(0)} ms (load ${os.loadavg()[0].toFixed(1)})`);
    }
    const tps = (ms: number) => `${Math.round(w.tokens / (ms / 1000))} tok/s`;
    rows.push({ work: w.label, saelab: tps(median(a)), torch: tps(median(b)), ratio: median(b.map((x, i) => x / a[i])), rounds: b.map((x, i) => x / a[i]) });
  }
}

function endToEnd(py: string, rounds: number, rows: Row[]): void {
  const dir = process.env.SAELAB_BENCH_DIR ?? path.join(os.tmpdir(), 'saelab-bench-e2e');
  console.log(`end-to-end inputs in ${dir} (made once)`);
  const fx = e2eFixtures(dir);
  const out = path.join(dir, 'out');
  fs.mkdirSync(out, { recursive: true });
  const node = [process.execPath, path.join(ROOT, 'bin', 'saelab.js')];
  const tokens = E2E_TOKENS.batch * E2E_TOKENS.pos;
  const hook = 'blocks.6.hook_resid_pre';
  const cases: Array<{ label: string; tokens: number; a: string[]; b: string[]; file: string }> = [
    {
      label: `\`saelab cache --hooks ${hook}\` (+ logits), ${E2E_TOKENS.batch}x${E2E_TOKENS.pos}, end to end`, tokens, file: path.join(out, 'cache.safetensors'),
      a: [...node, 'cache', '--model', fx.gpt2Dir, '--tokens', fx.tokens, '--hooks', hook, '--no-processing', '--out', path.join(out, 'cache.safetensors')],
      b: [py, path.join(TORCH_DIR, 'cache.py'), '--model', fx.gpt2Dir, '--tokens', fx.tokens, '--hooks', hook, '--out', path.join(out, 'cache.safetensors')],
    },
    {
      label: `\`saelab cache --hooks ${hook} --no-logits\`, end to end`, tokens, file: path.join(out, 'cache.safetensors'),
      a: [...node, 'cache', '--model', fx.gpt2Dir, '--tokens', fx.tokens, '--hooks', hook, '--no-processing', '--no-logits', '--out', path.join(out, 'cache.safetensors')],
      b: [py, path.join(TORCH_DIR, 'cache.py'), '--model', fx.gpt2Dir, '--tokens', fx.tokens, '--hooks', hook, '--no-logits', '--out', path.join(out, 'cache.safetensors')],
    },
    {
      label: `\`saelab sae\` ${E2E_SAE.dIn}x${E2E_SAE.dSae}, ${E2E_SAE.tokens} tokens, L0 ~50 (feature_acts + sae_out), end to end`, tokens: E2E_SAE.tokens, file: path.join(out, 'sae.safetensors'),
      a: [...node, 'sae', '--sae', fx.saeDir, '--in', fx.saeInput, '--tensor', 'x', '--out', path.join(out, 'sae.safetensors')],
      b: [py, path.join(TORCH_DIR, 'sae.py'), '--sae', fx.saeDir, '--in', fx.saeInput, '--tensor', 'x', '--out', path.join(out, 'sae.safetensors')],
    },
  ];
  const only = process.env.SAELAB_BENCH_E2E?.split(',').map(Number);
  cases.forEach((c, i) => {
    if (only && !only.includes(i)) return;
    const a: Array<{ s: number; rssMiB?: number }> = [];
    const b: Array<{ s: number; rssMiB?: number }> = [];
    for (let r = 0; r < rounds; r++) {
      a.push(runProcess(c.a, 'saelab'));
      fs.rmSync(c.file, { force: true });
      b.push(runProcess(c.b, 'torch', true));
      fs.rmSync(c.file, { force: true });
      console.log(`  e2e ${i} round ${r + 1}: saelab ${a[r].s.toFixed(2)} s (${a[r].rssMiB?.toFixed(0) ?? '?'} MiB), torch ${b[r].s.toFixed(2)} s (${b[r].rssMiB?.toFixed(0) ?? '?'} MiB) (load ${os.loadavg()[0].toFixed(1)})`);
    }
    const fmt = (xs: Array<{ s: number; rssMiB?: number }>) => `${Math.round(c.tokens / median(xs.map((x) => x.s)))} tok/s, ${median(xs.map((x) => x.s)).toFixed(2)} s, peak ${median(xs.map((x) => x.rssMiB ?? NaN)).toFixed(0)} MiB`;
    const ratios = b.map((x, k) => x.s / a[k].s);
    rows.push({ work: c.label, saelab: fmt(a), torch: fmt(b), ratio: median(ratios), rounds: ratios });
  });
}

export async function run(): Promise<void> {
  const py = python();
  if (!py) {
    console.log('torch not found for /usr/bin/python3 (or SAELAB_BENCH_PYTHON): ratios against PyTorch skipped (apt-get install python3-torch to see them)');
    return;
  }
  const rounds = Number(process.env.SAELAB_BENCH_ROUNDS ?? 3);
  const parts = (process.env.SAELAB_BENCH_TORCH ?? 'inproc,e2e').split(',');
  const torchEnv = process.env.SAELAB_BENCH_TORCH_ENV ? `, torch with ${process.env.SAELAB_BENCH_TORCH_ENV}` : ', torch in the user\'s environment';
  console.log(`saelab (${tf.getBackend()}) vs torch (${py}, all ${os.cpus().length} cores), ${rounds} rounds A B A B${torchEnv}; load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const rows: Row[] = [];
  if (parts.includes('inproc')) await inProcess(py, rounds, rows);
  if (parts.includes('e2e')) endToEnd(py, rounds, rows);
  report(rows);
}
