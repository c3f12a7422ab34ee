import { ModelFamily } from './family';
import { llamaConfig, llamaLayout } from './llama';

/** Mistral: Llama's layout with grouped K/V, a sliding attention window and no final-norm folding. */
export const mistral: ModelFamily = {
  modelType: 'mistral',
  matchesArchitecture: (a) => a.startsWith('Mistral'),
  config: (r) => llamaConfig(r, true),
  ...llamaLayout(false),
};
