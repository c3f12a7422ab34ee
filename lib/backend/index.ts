import * as tf from '@tensorflow/tfjs';
import { tryRegisterNative } from './native';
import { SAELAB_VERSION } from '../version';

export { bf16MatmulSupport, ComputeDtype, COMPUTE_DTYPES } from './bf16';

/** Backends saelab knows, best first. */
export const BACKEND_ORDER = ['tensorflow-gpu', 'tensorflow', 'native', 'wasm', 'cpu'] as const;
export type BackendKind = (typeof BACKEND_ORDER)[number];

export interface BackendInfo {
  /** the kind saelab chose */
  kind: BackendKind;
  /** the tfjs backend name in use (tensorflow, native, wasm, cpu) */
  tfBackend: string;
  /** why each better backend was not used */
  skipped: Record<string, string>;
  versions: Record<string, string>;
}

const ALIASES: Record<string, BackendKind> = {
  'tensorflow-gpu': 'tensorflow-gpu', 'node-gpu': 'tensorflow-gpu', 'tfjs-node-gpu': 'tensorflow-gpu', gpu: 'tensorflow-gpu',
  tensorflow: 'tensorflow', node: 'tensorflow', 'tfjs-node': 'tensorflow',
  native: 'native', wasm: 'wasm', cpu: 'cpu',
};

let current: BackendInfo | undefined;
let pending: Promise<BackendInfo> | undefined;

/** An installed package's package.json `name` and `version` (an npm alias installs another package under the name asked for). */
function installedPackage(pkg: string): { name?: string; version?: string } {
  try {
    return require(`${pkg}/package.json`) as { name?: string; version?: string };
  } catch {
    return {};
  }
}

function registered(name: string): boolean {
  return tf.findBackendFactory(name) != null;
}

/** Load a package that registers a tfjs backend; returns an error message or undefined. */
function tryLoad(pkg: string): string | undefined {
  try {
    require(pkg);
    return undefined;
  } catch (e) {
    return `${pkg} is not installed or failed to load (${String((e as Error).message).split('\n')[0]})`;
  }
}

/** Probe one backend kind: returns undefined when usable, else the reason it is not. */
async function probe(kind: BackendKind): Promise<string | undefined> {
  switch (kind) {
    case 'tensorflow-gpu': {
      const err = tryLoad('@tensorflow/tfjs-node-gpu');
      if (err) return err;
      if (!registered('tensorflow')) return '@tensorflow/tfjs-node-gpu loaded but registered no tensorflow backend';
      if (!(await tf.setBackend('tensorflow'))) return 'the tensorflow backend failed to initialise';
      const be = tf.backend() as unknown as { isUsingGpuDevice?: boolean };
      if (!be.isUsingGpuDevice) return '@tensorflow/tfjs-node-gpu found no usable GPU';
      return undefined;
    }
    case 'tensorflow': {
      if (!registered('tensorflow')) {
        // With danfojs-node's override, '@tensorflow/tfjs-node' may be an alias of plain tfjs: a second copy of its
        // bundle (20-40 ms to load) that registers no tensorflow backend. Only a registered backend counts.
        if (installedPackage('@tensorflow/tfjs-node').name === '@tensorflow/tfjs') return '@tensorflow/tfjs-node is not installed (the name is an alias of plain @tensorflow/tfjs: no tensorflow backend)';
        tryLoad('@tensorflow/tfjs-node');
      }
      if (!registered('tensorflow')) return '@tensorflow/tfjs-node is not installed (no tensorflow backend registered)';
      if (!(await tf.setBackend('tensorflow'))) return 'the tensorflow backend failed to initialise';
      return undefined;
    }
    case 'native': {
      const r = tryRegisterNative();
      if (!r.ok) return r.reason;
      if (!(await tf.setBackend('native'))) return 'the native backend failed to initialise';
      return undefined;
    }
    case 'wasm': {
      const err = tryLoad('@tensorflow/tfjs-backend-wasm');
      if (err) return err;
      if (!registered('wasm')) return '@tensorflow/tfjs-backend-wasm registered no backend';
      if (!(await tf.setBackend('wasm'))) return 'the wasm backend failed to initialise';
      return undefined;
    }
    case 'cpu':
      if (!(await tf.setBackend('cpu'))) return 'the cpu backend failed to initialise';
      return undefined;
  }
}

/** Parse a backend name as given in SAELAB_BACKEND or an option. */
export function parseBackendName(name: string): BackendKind {
  const kind = ALIASES[name.trim().toLowerCase()];
  if (!kind) throw new Error(`unknown backend '${name}' (SAELAB_BACKEND): use one of ${BACKEND_ORDER.join(', ')}`);
  return kind;
}

/**
 * Choose and initialise the best TF.js backend present: tfjs-node-gpu with a GPU, tfjs-node,
 * saelab's native backend, wasm, cpu. `SAELAB_BACKEND` (or `force`) picks one; a forced backend
 * that is missing is an error. Idempotent: later calls return the first choice.
 */
export async function initBackend(force?: string): Promise<BackendInfo> {
  if (current && !force) return current;
  if (pending && !force) return pending;
  const run = async (): Promise<BackendInfo> => {
    const wanted = force ?? process.env.SAELAB_BACKEND;
    const skipped: Record<string, string> = {};
    let chosen: BackendKind | undefined;
    if (wanted) {
      const kind = parseBackendName(wanted);
      const why = await probe(kind);
      if (why) throw new Error(`SAELAB_BACKEND=${wanted} asks for the ${kind} backend, which is not available: ${why}. Unset SAELAB_BACKEND to pick the best available backend.`);
      chosen = kind;
    } else {
      for (const kind of BACKEND_ORDER) {
        const why = await probe(kind);
        if (!why) { chosen = kind; break; }
        skipped[kind] = why;
      }
    }
    if (!chosen) throw new Error('no TF.js backend could be initialised');
    await tf.ready();
    const versions: Record<string, string> = { node: process.versions.node, 'tfjs-core': tf.version_core };
    for (const pkg of ['@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-node-gpu']) {
      const v = installedPackage(pkg).version;
      if (v) versions[pkg.replace('@tensorflow/', '')] = v;
    }
    versions.saelab = SAELAB_VERSION;
    current = { kind: chosen, tfBackend: tf.getBackend(), skipped, versions };
    return current;
  };
  pending = run();
  try {
    return await pending;
  } finally {
    pending = undefined;
  }
}

/** The backend chosen by initBackend, if it ran. */
export function backendInfo(): BackendInfo | undefined {
  return current;
}

/** One line naming the backend and versions, for logs and the first output of each notebook. */
export function describeBackend(info: BackendInfo): string {
  const v = Object.entries(info.versions).map(([k, x]) => `${k} ${x}`).join(', ');
  return `saelab backend: ${info.kind} (tfjs '${info.tfBackend}'); ${v}`;
}
