/**
 * Text widths for laying out plots in Node, where vega has no canvas to measure text and estimates every
 * character at 0.8 em (twice a typical width): long axis titles then reserve hundreds of pixels of empty
 * space. These are Helvetica's advance widths (its AFM metrics, in 1/1000 em), which Liberation Sans, the
 * font the PNGs are drawn with (fontFamilies in render.ts), shares by design; vega supports replacing its
 * estimate this way (`textMetrics.width`).
 */

// advance widths of ASCII 32..126 in 1/1000 em: Helvetica and Helvetica-Bold
const REGULAR = [
  278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // space ! " # $ % & ' ( ) * + , - . /
  556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0-9 : ; < = > ?
  1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // @ A-O
  667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // P-Z [ \ ] ^ _
  333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // ` a-o
  556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // p-z { | } ~
];
const BOLD = [
  278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278,
  556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611,
  975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778,
  667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556,
  333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611,
  611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584,
];
/** outside ASCII: the width of a digit (most glyphs of Latin text and symbols are near it) */
const OTHER = 556;

/** Width in pixels of `text` in Helvetica / Liberation Sans at `fontSize` px (`bold` for weights >= 600 or 'bold'). */
export function textWidth(text: string, fontSize: number, bold = false): number {
  const table = bold ? BOLD : REGULAR;
  let units = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    units += c >= 32 && c <= 126 ? table[c - 32] : OTHER;
  }
  return (units * fontSize) / 1000;
}

type VegaTextItem = { text?: unknown; fontSize?: number; fontWeight?: string | number; font?: string };

/** The `textMetrics.width` vega calls for each text item (and line of it) when laying out a view. */
export function vegaTextWidth(item: VegaTextItem, text?: unknown): number {
  const value = text ?? item.text;
  const s = value === null || value === undefined ? '' : Array.isArray(value) ? value.join(' ') : String(value);
  const w = item.fontWeight;
  const bold = w === 'bold' || w === 'bolder' || (typeof w === 'number' && w >= 600) || (typeof w === 'string' && Number(w) >= 600);
  const mono = typeof item.font === 'string' && /mono|courier/i.test(item.font);
  const size = item.fontSize ?? 11;
  return mono ? 0.6 * size * [...s].length : textWidth(s, size, bold);
}
