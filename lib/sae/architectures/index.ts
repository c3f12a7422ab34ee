/**
 * The SAE architecture registry: the one place that knows architecture names. Each architecture is one
 * module in this folder exporting an `Architecture` (its parameters, encode, decode, folding and, when
 * trainable, its training pieces); adding one is that file plus one line in ARCHITECTURES below
 * (docs/sae-architectures.md).
 */
import { Architecture, InferenceArchitecture, TrainingArchitecture } from './types';
import { ConfigError, describeValue } from '../../io/errors';
import { standard } from './standard';
import { gated } from './gated';
import { jumprelu } from './jumprelu';
import { topk } from './topk';
import { batchtopk } from './batchtopk';
import { matryoshkaBatchtopk } from './matryoshkaBatchtopk';
import { transcoder } from './transcoder';
import { skipTranscoder } from './skipTranscoder';
import { jumpreluTranscoder } from './jumpreluTranscoder';
import { crosscoder, batchtopkCrosscoder } from './crosscoder';

export * from './types';
export { linear, decodeLinear, decoderNorms, topkActivation, topkActivationTf, topkRowsHost, kthLargest, kthLargestValue, foldNorms, onHostBackend } from './ops';

/** The registered architectures, by SAELens name. */
const ARCHITECTURES: Record<string, Architecture> = {};
for (const a of [
  standard,
  gated,
  jumprelu,
  topk,
  batchtopk,
  matryoshkaBatchtopk,
  transcoder,
  skipTranscoder,
  jumpreluTranscoder,
  crosscoder,
  batchtopkCrosscoder,
]) ARCHITECTURES[a.name] = a;

/** The architecture of a cfg.json that names none (SAELens's default). */
export const DEFAULT_ARCHITECTURE = standard.name;

/** Every registered architecture. */
export function allArchitectures(): Architecture[] {
  return Object.values(ARCHITECTURES);
}

/** Register an architecture at run time (an extension outside saelab); replaces one of the same name. */
export function registerArchitecture(arch: Architecture): void {
  if (!arch.inference && !arch.training) throw new Error(`architecture ${arch.name}: needs an inference or a training part`);
  ARCHITECTURES[arch.name] = arch;
}

/** The architecture of that name, or undefined. */
export function getArchitecture(name: string): Architecture | undefined {
  return Object.prototype.hasOwnProperty.call(ARCHITECTURES, name) ? ARCHITECTURES[name] : undefined;
}

/** Names of the registered architectures that can be loaded (`inference`) or trained (`training`); all by default. */
export function listArchitectures(kind?: 'inference' | 'training'): string[] {
  return Object.values(ARCHITECTURES).filter((a) => !kind || a[kind]).map((a) => a.name);
}

/** The inference part of an architecture; throws naming `where`, the name and what saelab knows otherwise. */
export function inferenceArchitecture(name: unknown, where = 'SAE config'): InferenceArchitecture {
  const arch = typeof name === 'string' ? getArchitecture(name) : undefined;
  if (arch?.inference) return arch.inference;
  const known = listArchitectures('inference').join(', ');
  if (arch?.savedAs) {
    throw new ConfigError(`${where}: unknown architecture ${describeValue(name)} for an SAE to run: ${name} is a training architecture, which SAELens saves as "${arch.savedAs}"; saelab runs ${known}`);
  }
  throw new ConfigError(`${where}: unknown architecture ${describeValue(name)}; saelab supports ${known}`);
}

/** The training part of an architecture; throws naming the name and the trainable ones. */
export function trainingArchitecture(name: unknown, where = 'train config'): TrainingArchitecture {
  const arch = typeof name === 'string' ? getArchitecture(name) : undefined;
  if (arch?.training) return arch.training;
  throw new ConfigError(`${where}: architecture '${String(name)}' is not supported for training; use one of ${listArchitectures('training').join(', ')}`);
}
