/** Small DOM helpers for the explorer page. */

type Child = Node | string;

/** An element with attributes and children. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

/** Remove every child; returns the element. */
export function clear<T extends HTMLElement>(e: T): T {
  e.replaceChildren();
  return e;
}

/** A stable colour per feature id (golden-angle hues), with alpha for strength. */
export function featureColor(f: number, alpha: number): string {
  const hue = Math.round((f * 137.508) % 360);
  return `hsla(${hue}, 78%, 58%, ${alpha.toFixed(3)})`;
}

/** Background for an activation as a fraction of the feature's maximum (0 -> none, 1 -> strong orange). */
export function heat(x: number): string {
  const t = Math.max(0, Math.min(1, x));
  return t <= 0 ? 'transparent' : `rgba(232, 121, 59, ${(0.12 + 0.78 * t).toFixed(3)})`;
}

/** A token's text with whitespace made visible (· for a space, ↵ for a newline, → for a tab). */
export function tokenText(s: string): Node[] {
  const out: Node[] = [];
  let plain = '';
  const flush = () => { if (plain) out.push(document.createTextNode(plain)); plain = ''; };
  for (const ch of s) {
    const shown = ch === ' ' ? '·' : ch === '\n' ? '↵' : ch === '\t' ? '→' : undefined;
    if (shown === undefined) { plain += ch; continue; }
    flush();
    const w = document.createElement('span');
    w.className = 'ws';
    w.textContent = shown;
    out.push(w);
  }
  flush();
  if (!out.length) out.push(document.createTextNode('∅'));
  return out;
}

/** tokenText as a plain string (· for a space, ↵ newline, → tab), e.g. inside a sentence. */
export function visibleText(s: string): string {
  return s.replace(/ /g, '·').replace(/\n/g, '↵').replace(/\t/g, '→') || '∅';
}
