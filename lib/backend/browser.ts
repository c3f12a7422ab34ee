/**
 * TensorFlow.js backends in a browser: WebGPU where the browser has it, WebGL, then wasm (its
 * .wasm files served from `wasmPath`), then plain JavaScript. The Node counterpart is ./index.ts.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

/** Browser backends in the order tried. */
export const BROWSER_BACKEND_ORDER = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type BrowserBackend = (typeof BROWSER_BACKEND_ORDER)[number];

export interface BrowserBackendInfo {
  /** the backend in use */
  name: BrowserBackend;
  /** backends tried before it, each with why it was not used */
  skipped: Array<{ name: BrowserBackend; reason: string }>;
  /** @tensorflow/tfjs-core version */
  tfjs: string;
}

/** True when `s` names a browser backend. */
export function isBrowserBackend(s: string): s is BrowserBackend {
  return (BROWSER_BACKEND_ORDER as readonly string[]).includes(s);
}

async function tryBackend(name: BrowserBackend): Promise<string | undefined> {
  if (name === 'webgpu' && !(globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu) return 'this browser has no WebGPU (navigator.gpu)';
  try {
    if (!(await tf.setBackend(name))) return 'failed to initialise';
    await tf.ready();
    // a tiny op proves the backend computes (a WebGL context can be created and still be lost)
    const t = tf.add(tf.scalar(1), tf.scalar(2));
    const v = (await t.data())[0];
    t.dispose();
    return v === 3 ? undefined : `computed 1 + 2 = ${v}`;
  } catch (e) {
    return (e as Error)?.message ?? String(e);
  }
}

/** The WebGL renderer's name when the browser tells it (e.g. "ANGLE (..., SwiftShader ...)"), else undefined. */
export function webglRenderer(): string | undefined {
  try {
    const doc = (globalThis as { document?: { createElement(t: string): any } }).document;
    const gl = doc?.createElement('canvas').getContext('webgl2') ?? doc?.createElement('canvas').getContext('webgl');
    if (!gl) return undefined;
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    return String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  } catch {
    return undefined;
  }
}

/** True for CPU-emulated WebGL (SwiftShader, llvmpipe): slower than wasm on the same CPU. */
export function isSoftwareRenderer(renderer: string | undefined): boolean {
  return !!renderer && /swiftshader|llvmpipe|software|softpipe/i.test(renderer);
}

/**
 * Pick the first browser backend that works: `prefer` first when given, then WebGPU, WebGL, wasm,
 * cpu. WebGL must render to float32 textures (half-float WebGL would round activations to ~3
 * digits), and a CPU-emulated WebGL is passed over for wasm unless asked for. `wasmPath` is the URL folder holding tfjs-backend-wasm*.wasm (ending in '/').
 */
export async function initBrowserBackend(opts: { prefer?: BrowserBackend; wasmPath?: string } = {}): Promise<BrowserBackendInfo> {
  if (opts.wasmPath) setWasmPaths(opts.wasmPath);
  tf.env().set('WEBGL_FORCE_F16_TEXTURES', false);
  const order: BrowserBackend[] = opts.prefer ? [opts.prefer, ...BROWSER_BACKEND_ORDER.filter((b) => b !== opts.prefer)] : [...BROWSER_BACKEND_ORDER];
  const skipped: BrowserBackendInfo['skipped'] = [];
  for (const name of order) {
    if (name === 'webgl') {
      const renderer = webglRenderer();
      if (opts.prefer !== 'webgl' && isSoftwareRenderer(renderer)) {
        skipped.push({ name, reason: `software renderer (${renderer}): wasm is faster on this CPU` });
        continue;
      }
      let f32 = false;
      try {
        f32 = tf.env().getBool('WEBGL_RENDER_FLOAT32_CAPABLE');
      } catch { /* no WebGL */ }
      if (!f32) {
        skipped.push({ name, reason: 'WebGL cannot render to float32 textures here' });
        continue;
      }
    }
    const why = await tryBackend(name);
    if (why === undefined) return { name, skipped, tfjs: tf.version_core };
    skipped.push({ name, reason: why });
  }
  throw new Error(`no TensorFlow.js backend works in this browser: ${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')}`);
}
