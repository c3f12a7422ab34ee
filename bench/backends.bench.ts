import * as os from 'os';
import * as tf from '@tensorflow/tfjs';
import { nativeInfo, tryRegisterNative } from '../lib/backend/native';
import {
  GPT2_SMALL, SAE_SHAPE, SaeShape, gptForwardFlops, makeModelForward, makeMatmul, makeSaeForward, makeSaeTrainStep,
  saeForwardFlops, saeTrainFlops,
} from './backendWorkloads';

/**
 * Backends compared: the matmul 1024x768 @ 768x3072, SAE encode+decode (768 x 24576, 4096 tokens),
 * an SAE training step on that shape (forward, backward, Adam), and a GPT-2-small-shaped forward pass
 * (8 x 128 tokens, 12 layers, one cached activation), on every backend present (cpu: matmul only, it is
 * ~100x slower). Prints the median time, tokens/s, GFLOP/s and the ratio to wasm.
 * SAELAB_BENCH_BACKENDS=native,wasm picks backends; SAELAB_BENCH_WORKLOADS=matmul,sae-fwd,sae-train,gpt2 picks workloads;
 * SAELAB_BENCH_SAE_TOKENS=1024 runs the SAE workloads on fewer tokens (tokens/s and the ratio stay comparable).
 */

interface Workload {
  name: string;
  tokens: number;
  flops: number;
  make: () => { step: () => void; dispose: () => void };
  /** smaller version to try when the full one fails (e.g. out of wasm memory), with its tokens and flops */
  smaller?: () => Workload;
}

/** Fewest tokens an SAE workload is retried at (after a failure at more): below this, report the failure. */
const MIN_SAE_TOKENS = 64;

function saeWorkloads(s: SaeShape): Workload[] {
  const quarter = s.tokens / 4 >= MIN_SAE_TOKENS && Number.isInteger(s.tokens / 4);
  return [
    { name: 'sae-fwd', tokens: s.tokens, flops: saeForwardFlops(s), make: () => makeSaeForward(s), smaller: quarter ? () => saeWorkloads({ ...s, tokens: s.tokens / 4 })[0] : undefined },
    { name: 'sae-train', tokens: s.tokens, flops: saeTrainFlops(s), make: () => makeSaeTrainStep(s), smaller: quarter ? () => saeWorkloads({ ...s, tokens: s.tokens / 4 })[1] : undefined },
  ];
}

// gpt2 runs before the SAE workloads: it has no smaller fallback, and the wasm heap (4 GB at most, never
// returned) is fragmented by the big SAE tensors; the SAE workloads retry at fewer tokens when they fail.
const WORKLOADS: Workload[] = [
  { name: 'matmul', tokens: 1024, flops: 2 * 1024 * 768 * 3072, make: () => makeMatmul() },
  { name: 'gpt2', tokens: GPT2_SMALL.batch * GPT2_SMALL.pos, flops: gptForwardFlops(GPT2_SMALL), make: () => makeModelForward(GPT2_SMALL) },
  ...saeWorkloads({ ...SAE_SHAPE, tokens: Number(process.env.SAELAB_BENCH_SAE_TOKENS) || SAE_SHAPE.tokens }),
];

interface Result { backend: string; workload: string; ms: number; tokens: number; flops: number; note: string }

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Time one workload: a warm-up step when steps are short, then up to 7 steps within ~40 s; median ms. */
function time(w: Workload): number {
  const inst = w.make();
  try {
    let t0 = performance.now();
    inst.step();
    const first = performance.now() - t0;
    const reps = Math.max(2, Math.min(7, Math.floor(40000 / Math.max(first, 1))));
    const times: number[] = first > 5000 ? [first] : [];
    while (times.length < reps) {
      t0 = performance.now();
      inst.step();
      times.push(performance.now() - t0);
    }
    return median(times);
  } finally {
    inst.dispose();
  }
}

async function available(backend: string): Promise<string | undefined> {
  if (backend === 'native') {
    const r = tryRegisterNative();
    if (!r.ok) return r.reason;
  }
  if (backend === 'wasm') {
    try {
      require('@tensorflow/tfjs-backend-wasm');
    } catch (e) {
      return String(e);
    }
  }
  return (await tf.setBackend(backend)) ? undefined : `the ${backend} backend failed to initialise`;
}

export async function run(): Promise<void> {
  const before = tf.getBackend();
  const backends = (process.env.SAELAB_BENCH_BACKENDS ?? 'native,wasm,cpu').split(',');
  const only = process.env.SAELAB_BENCH_WORKLOADS?.split(',');
  const load = os.loadavg().map((x) => x.toFixed(1)).join(' ');
  console.log(`machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), load average ${load} (shared with other jobs: medians are noisy)`);
  const info = backends.includes('native') && tryRegisterNative().ok ? nativeInfo() : undefined;
  if (info) console.log(`native: ${info.threads} threads, BLAS ${info.blas} (${info.blasThreads} threads)`);
  const results: Result[] = [];
  for (const backend of backends) {
    const why = await available(backend);
    if (why) {
      console.log(`${backend}: not available (${why})`);
      continue;
    }
    for (const w0 of WORKLOADS) {
      if (only && !only.includes(w0.name)) continue;
      if (backend === 'cpu' && w0.name !== 'matmul') continue; // pure JS: minutes per step
      let w = w0;
      let note = '';
      for (;;) {
        try {
          const ms = time(w);
          results.push({ backend, workload: w0.name, ms, tokens: w.tokens, flops: w.flops, note });
          break;
        } catch (e) {
          const msg = String((e as Error).message ?? e).split('\n')[0];
          if (!w.smaller) {
            console.log(`${backend} ${w0.name}: failed (${msg})`);
            break;
          }
          w = w.smaller();
          note = `at ${w.tokens} tokens (full size failed: ${msg.slice(0, 60)})`;
        }
      }
      const r = results[results.length - 1];
      if (r && r.backend === backend && r.workload === w0.name) {
        console.log(`  ${backend.padEnd(6)} ${w0.name.padEnd(9)} ${r.ms.toFixed(1).padStart(9)} ms ${r.note}`);
      }
    }
  }
  await tf.setBackend(before);
  console.log('\nworkload   backend   median ms     tokens/s   GFLOP/s   x wasm');
  for (const r of results) {
    const wasm = results.find((x) => x.backend === 'wasm' && x.workload === r.workload);
    // Compare by throughput (tokens/s), which stays comparable when a backend ran a smaller size.
    const ratio = wasm ? (r.tokens / r.ms) / (wasm.tokens / wasm.ms) : NaN;
    console.log(`${r.workload.padEnd(10)} ${r.backend.padEnd(7)} ${r.ms.toFixed(1).padStart(11)} ${(r.tokens / (r.ms / 1000)).toFixed(0).padStart(12)} ${(r.flops / r.ms / 1e6).toFixed(1).padStart(9)} ${Number.isNaN(ratio) ? '     -' : ratio.toFixed(1).padStart(8)}${r.note ? `  (${r.note})` : ''}`);
  }
}
