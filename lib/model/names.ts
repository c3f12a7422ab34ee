/** Model names: TransformerLens aliases to hub repo ids, and the files a model repo needs. No file system. */

/** Files a model folder needs from the hub (weights, config, tokenizer). */
export const MODEL_FILES = ['config.json', '*.json', '*.safetensors'];

/**
 * TransformerLens model aliases -> Hugging Face repo ids (the names SAELens metadata uses, e.g.
 * gpt2-small, pythia-70m-deduped, gemma-2b, mistral-7b). Repo ids (owner/name) pass unchanged.
 */
export function officialModelName(name: string): string {
  if (name.includes('/')) return name;
  const n = name.toLowerCase();
  const gpt2: Record<string, string> = { gpt2: 'gpt2', 'gpt2-small': 'gpt2', 'gpt2-medium': 'gpt2-medium', 'gpt2-large': 'gpt2-large', 'gpt2-xl': 'gpt2-xl' };
  if (gpt2[n]) return `openai-community/${gpt2[n]}`;
  if (n.startsWith('pythia-')) return `EleutherAI/${n}`;
  if (/^gemma-(2b|7b)(-it)?$/.test(n)) return `google/${n}`;
  const mistral: Record<string, string> = { 'mistral-7b': 'mistralai/Mistral-7B-v0.1', 'mistral-7b-instruct': 'mistralai/Mistral-7B-Instruct-v0.1' };
  if (mistral[n]) return mistral[n];
  return name;
}
