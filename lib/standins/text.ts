/**
 * Seeded pseudo-English documents for stand-in datasets: a word-bigram chain learned from the
 * shipped demo text (Brown-corpus prose), so tokenizers see real words and punctuation in a natural
 * mix, in any quantity, the same for the same seed.
 */
import * as fs from 'fs';
import * as path from 'path';
import { resolveRepo } from '../hub/resolve';
import { seededRandom } from '../data/random';

/** A word-bigram chain: for each word the words that followed it (with repeats, so frequencies carry over). */
export interface WordChain {
  words: string[];
  /** next[i]: indices of the words that followed word i */
  next: Int32Array[];
  /** indices of words that start a sentence */
  starts: Int32Array;
}

/** Learn the chain from documents (split at whitespace; a word ending in . ? ! ends a sentence). */
export function learnWordChain(docs: string[]): WordChain {
  const index = new Map<string, number>();
  const words: string[] = [];
  const follow: number[][] = [];
  const starts = new Set<number>();
  const id = (w: string) => {
    let i = index.get(w);
    if (i === undefined) { i = words.length; index.set(w, i); words.push(w); follow.push([]); }
    return i;
  };
  for (const doc of docs) {
    const ws = doc.split(/\s+/).filter(Boolean);
    let prev = -1;
    let sentenceStart = true;
    for (const w of ws) {
      const i = id(w);
      if (sentenceStart && /^[A-Z]/.test(w)) starts.add(i);
      if (prev >= 0) follow[prev].push(i);
      sentenceStart = /[.?!]["')]?$/.test(w);
      prev = i;
    }
  }
  if (!words.length) throw new Error('learnWordChain: no words in the source documents');
  const startList = starts.size ? [...starts] : [0];
  return { words, next: follow.map((f) => Int32Array.from(f.length ? f : startList)), starts: Int32Array.from(startList) };
}

/** The chain of the shipped demo text (saelab/demo-text, validation split). */
export async function demoWordChain(): Promise<WordChain> {
  const r = await resolveRepo('saelab/demo-text', { repoType: 'dataset', offline: true, files: ['validation.jsonl'] });
  const docs = fs.readFileSync(path.join(r.dir, 'validation.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => String(JSON.parse(l).text ?? ''));
  return learnWordChain(docs);
}

/**
 * Documents of `minWords`..`maxWords` words from the chain, seeded: sentences restart at sentence
 * starts, paragraphs break every ~60-120 words at a sentence end.
 */
export function* chainDocuments(chain: WordChain, seed: number, opts: { minWords?: number; maxWords?: number } = {}): Generator<string> {
  const rand = seededRandom(seed);
  const lo = opts.minWords ?? 150;
  const hi = opts.maxWords ?? 1500;
  const pick = (xs: Int32Array) => xs[Math.floor(rand() * xs.length)];
  for (;;) {
    const n = lo + Math.floor(rand() * (hi - lo + 1));
    const parts: string[] = [];
    let w = pick(chain.starts);
    let sinceBreak = 0;
    let paragraph = 60 + Math.floor(rand() * 60);
    for (let k = 0; k < n; k++) {
      const word = chain.words[w];
      parts.push(word);
      sinceBreak++;
      const end = /[.?!]["')]?$/.test(word);
      if (end && sinceBreak >= paragraph) { parts.push('\n\n'); sinceBreak = 0; paragraph = 60 + Math.floor(rand() * 60); }
      else parts.push(' ');
      w = end && rand() < 0.3 ? pick(chain.starts) : pick(chain.next[w]);
    }
    yield parts.join('').trim();
  }
}
