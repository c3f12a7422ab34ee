import { DemoWorldSpec, DemoCorpora } from './world';
import { Tokenizer } from '../tokenizers/tokenizer';

/** Per-layer residual SAEs for the demo world (filled in once SAE training lands). */
export async function makeDemoSaes(_out: string, _spec: DemoWorldSpec, _corpora: DemoCorpora, _tok: Tokenizer, _tokDir: string, _quick: boolean): Promise<Record<string, unknown>> {
  return {};
}
