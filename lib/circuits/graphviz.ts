/**
 * Directed graphs as Graphviz DOT text, rendered to SVG by Graphviz compiled to WebAssembly
 * (@viz-js/viz; no native binaries). Edge colour: blue for a positive weight (increase), red for a
 * negative one (decrease); opacity and width grow with |weight| relative to the largest.
 */

export interface GraphNode {
  id: string;
  /** main label line, e.g. "2.417" */
  label: string;
  /** further label lines (contexts, tokens); escaped here */
  details?: string[];
  /** rank group: nodes of one group share a row (e.g. the hook) */
  group?: string;
  /** fill colour (#rrggbb); default light grey */
  fill?: string;
  /** tooltip text */
  tooltip?: string;
}

export interface GraphEdge {
  from: string;
  to: string;
  weight: number;
}

export interface GraphSpec {
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** groups in drawing order (first at the bottom with rankdir BT) */
  groups?: string[];
  /** default 'BT' (inputs at the bottom, as feature-circuits draws) */
  rankdir?: 'TB' | 'BT' | 'LR' | 'RL';
  title?: string;
}

/** A DOT string literal (quotes, backslashes and newlines escaped). */
export function dotString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r?\n/g, '\\n')}"`;
}

/** #rrggbbaa for blue (w > 0) or red (w < 0) with alpha from |w| / maxAbs (at least 0.15). */
export function edgeColor(w: number, maxAbs: number): string {
  const a = maxAbs > 0 ? Math.min(1, Math.abs(w) / maxAbs) : 1;
  const alpha = Math.round((0.15 + 0.85 * a) * 255).toString(16).padStart(2, '0');
  return (w >= 0 ? '#1f4fd8' : '#d62728') + alpha;
}

/** Fill colour for a node effect: white to blue (positive) or red (negative) by |v| / maxAbs. */
export function effectFill(v: number, maxAbs: number): string {
  const a = maxAbs > 0 ? Math.min(1, Math.abs(v) / maxAbs) : 0;
  const mix = (c: number) => Math.round(255 + (c - 255) * a * 0.6).toString(16).padStart(2, '0');
  return v >= 0 ? `#${mix(0x1f)}${mix(0x4f)}${mix(0xd8)}` : `#${mix(0xd6)}${mix(0x27)}${mix(0x28)}`;
}

/** Graphviz DOT text of a graph spec. */
export function toDot(g: GraphSpec): string {
  const lines = ['digraph G {', `  rankdir=${g.rankdir ?? 'BT'};`, '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, fillcolor="#eeeeee"];', '  edge [arrowsize=0.6];'];
  if (g.title) lines.push(`  labelloc=t; label=${dotString(g.title)};`);
  const ids = new Set(g.nodes.map((n) => n.id));
  const groups = g.groups ?? [...new Set(g.nodes.map((n) => n.group).filter((x): x is string => !!x))];
  const nodeLine = (n: GraphNode) => {
    const label = [n.label, ...(n.details ?? [])].join('\n');
    const attrs = [`label=${dotString(label)}`];
    if (n.fill) attrs.push(`fillcolor=${dotString(n.fill)}`);
    if (n.tooltip) attrs.push(`tooltip=${dotString(n.tooltip)}`);
    return `${dotString(n.id)} [${attrs.join(', ')}];`;
  };
  groups.forEach((grp, i) => {
    const members = g.nodes.filter((n) => n.group === grp);
    if (!members.length) return;
    lines.push(`  subgraph cluster_${i} {`, `    label=${dotString(grp)}; style=dashed; color="#bbbbbb"; fontsize=9;`, '    { rank=same;');
    for (const n of members) lines.push(`      ${nodeLine(n)}`);
    lines.push('    }', '  }');
  });
  for (const n of g.nodes) if (!n.group || !groups.includes(n.group)) lines.push(`  ${nodeLine(n)}`);
  const maxAbs = g.edges.reduce((m, e) => Math.max(m, Math.abs(e.weight)), 0);
  for (const e of g.edges) {
    if (!ids.has(e.from) || !ids.has(e.to)) throw new Error(`edge ${e.from} -> ${e.to} names a node that is not in the graph`);
    const width = maxAbs > 0 ? 0.5 + 3 * Math.abs(e.weight) / maxAbs : 1;
    lines.push(`  ${dotString(e.from)} -> ${dotString(e.to)} [color=${dotString(edgeColor(e.weight, maxAbs))}, penwidth=${width.toFixed(2)}, tooltip=${dotString(e.weight.toPrecision(4))}];`);
  }
  lines.push('}');
  return lines.join('\n');
}

let vizInstance: Promise<{ renderString(dot: string, opts: { format: string; engine?: string }): string }> | undefined;

/**
 * Render DOT text to an SVG string with Graphviz (wasm), starting at the <svg> element (no XML
 * declaration or DOCTYPE, so it embeds in HTML and notebook outputs as is).
 */
export async function renderDotSvg(dot: string, engine = 'dot'): Promise<string> {
  vizInstance ??= (require('@viz-js/viz') as { instance(): Promise<{ renderString(dot: string, opts: { format: string; engine?: string }): string }> }).instance();
  const viz = await vizInstance;
  try {
    const svg = viz.renderString(dot, { format: 'svg', engine });
    const at = svg.indexOf('<svg');
    return at > 0 ? svg.slice(at) : svg;
  } catch (e) {
    throw new Error(`Graphviz could not render the graph: ${(e as Error).message}`);
  }
}
