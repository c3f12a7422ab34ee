import { ModelFamily } from './family';
import { gemma } from './gemma';
import { gpt2 } from './gpt2';
import { gptNeox } from './gptNeox';
import { llama } from './llama';
import { mistral } from './mistral';

export { ModelFamily, HfConfig, TensorSource, ConfigReader, WeightReader } from './family';

/** Every model family saelab loads (one file each in this folder); a new family is one file plus one entry here. */
export const MODEL_FAMILIES: readonly ModelFamily[] = [gpt2, gptNeox, llama, mistral, gemma];

/** The family of a config.json model_type, if saelab supports it. */
export function findModelFamily(modelType: string): ModelFamily | undefined {
  return MODEL_FAMILIES.find((f) => f.modelType === modelType);
}
