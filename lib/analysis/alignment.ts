/**
 * Token alignment by text (the `tokenAlignment: "text"` option): when base and finetune tokenize the same
 * text differently (scrambled or extended vocabularies), compare activations only at tokens whose character
 * span is identical in both tokenizations. Pure functions over each token's decoded text.
 */

/** Character spans [start, end) of consecutive token pieces, as an Int32Array of 2 * pieces.length. */
export function charSpans(pieces: readonly string[]): Int32Array {
  const spans = new Int32Array(2 * pieces.length);
  let pos = 0;
  for (let i = 0; i < pieces.length; i++) {
    spans[2 * i] = pos;
    pos += pieces[i].length;
    spans[2 * i + 1] = pos;
  }
  return spans;
}

/** Token positions of the two tokenizations that cover the same characters. */
export interface TokenAlignment {
  /** aligned positions in the base tokenization (ascending) */
  baseIndex: Int32Array;
  /** the matching positions in the finetune tokenization */
  finetuneIndex: Int32Array;
  aligned: number;
  baseTokens: number;
  finetuneTokens: number;
}

/**
 * Pairs the tokens of two tokenizations of one text whose character spans are identical. `basePieces` and
 * `finetunePieces` are each token's text (concatenating to the same string); give special tokens such as
 * BOS as '' so that they span no characters (two zero-width tokens at the same offset align in order).
 */
export function alignByText(basePieces: readonly string[], finetunePieces: readonly string[]): TokenAlignment {
  const a = basePieces.join('');
  const b = finetunePieces.join('');
  if (a !== b) {
    let k = 0;
    while (k < Math.min(a.length, b.length) && a[k] === b[k]) k++;
    throw new Error(`alignByText: the two tokenizations spell different texts (first difference at character ${k}: ${JSON.stringify(a.slice(k, k + 12))} vs ${JSON.stringify(b.slice(k, k + 12))}); decode each token of the same text, with special tokens as ''`);
  }
  const sa = charSpans(basePieces);
  const sb = charSpans(finetunePieces);
  const bi: number[] = [];
  const fi: number[] = [];
  let i = 0;
  let j = 0;
  while (i < basePieces.length && j < finetunePieces.length) {
    const [s1, e1, s2, e2] = [sa[2 * i], sa[2 * i + 1], sb[2 * j], sb[2 * j + 1]];
    if (s1 === s2 && e1 === e2) {
      bi.push(i++);
      fi.push(j++);
    } else if (e1 < e2 || (e1 === e2 && s1 > s2)) {
      i++;
    } else if (e2 < e1 || (e1 === e2 && s2 > s1)) {
      j++;
    } else {
      i++;
      j++;
    }
  }
  return { baseIndex: Int32Array.from(bi), finetuneIndex: Int32Array.from(fi), aligned: bi.length, baseTokens: basePieces.length, finetuneTokens: finetunePieces.length };
}
