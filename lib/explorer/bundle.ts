/**
 * Bundling lib for a browser with esbuild (a devDependency, loaded only when bundling). Each module
 * that reads files in Node (`x.ts`) has a browser twin (`x.browser.ts`, same exports over fetch);
 * the twin plugin swaps one for the other. Everything else must be free of Node: esbuild's browser
 * platform cannot resolve `fs`, `path`, ..., so a Node import reaching the bundle fails the build.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { BuildOptions, Metafile, Plugin } from 'esbuild';
import { SAELAB_ROOT, SAELAB_VERSION } from '../version';

/** The twin of a module path (without extension) when one exists: `<path>.browser.ts`. */
export function browserTwinOf(modulePath: string): string | undefined {
  if (/\.[cm]?[jt]s$/.test(modulePath) || modulePath.endsWith('.browser')) return undefined;
  const twin = `${modulePath}.browser.ts`;
  return fs.existsSync(twin) ? twin : undefined;
}

/** esbuild plugin: relative imports of a module with a `.browser.ts` twin resolve to the twin. */
export function browserTwinsPlugin(used?: Set<string>): Plugin {
  return {
    name: 'saelab-browser-twins',
    setup(build) {
      build.onResolve({ filter: /^\.\.?\// }, (args) => {
        if (!args.resolveDir) return undefined;
        const twin = browserTwinOf(path.resolve(args.resolveDir, args.path));
        if (!twin || twin === args.importer) return undefined;
        used?.add(path.relative(SAELAB_ROOT, twin));
        return { path: twin };
      });
    },
  };
}

export interface BundleOptions {
  /** entry module (TypeScript) */
  entry: string;
  outfile: string;
  /** 'esm' (default) for <script type="module"> and imports, 'iife' for a plain <script> */
  format?: 'esm' | 'iife';
  minify?: boolean;
}

export interface BundleResult {
  outfile: string;
  bytes: number;
  /** every input module (repo-relative paths) */
  inputs: string[];
  /** the twins swapped in (repo-relative) */
  twins: string[];
  warnings: string[];
}

/**
 * Bundle `entry` for browsers. Fails (with esbuild's messages) on any Node import and on esbuild
 * warnings such as an import that would always be undefined.
 */
export async function bundleForBrowser(opts: BundleOptions): Promise<BundleResult> {
  const esbuild = await import('esbuild');
  const twins = new Set<string>();
  const config: BuildOptions = {
    entryPoints: [opts.entry],
    outfile: opts.outfile,
    bundle: true,
    platform: 'browser',
    format: opts.format ?? 'esm',
    target: ['es2022'],
    minify: opts.minify ?? true,
    sourcemap: opts.minify === false ? 'linked' : false,
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: SAELAB_ROOT,
    define: { SAELAB_BUILD_VERSION: JSON.stringify(SAELAB_VERSION) },
    alias: { '@tensorflow/tfjs': path.join(SAELAB_ROOT, 'lib', 'backend', 'tfjsSlim.ts') },
    plugins: [browserTwinsPlugin(twins)],
  };
  let result;
  try {
    result = await esbuild.build(config);
  } catch (e) {
    const errs = (e as { errors?: Array<{ text: string; location?: { file: string; line: number } | null }> }).errors ?? [];
    const lines = errs.map((m) => `  ${m.location ? `${m.location.file}:${m.location.line}: ` : ''}${m.text}`);
    throw new Error(`bundling ${opts.entry} for the browser failed${lines.length ? `:\n${lines.join('\n')}` : `: ${(e as Error).message}`}` +
      (errs.some((m) => /Could not resolve "(fs|path|os|crypto|child_process|zlib|stream|url|util|worker_threads)/.test(m.text))
        ? '\na Node module is imported on the browser path: move the file access into a module with a .browser.ts twin' : ''));
  }
  const warnings = result.warnings.map((w) => `${w.location ? `${w.location.file}:${w.location.line}: ` : ''}${w.text}`);
  if (warnings.length) throw new Error(`bundling ${opts.entry} for the browser gave warnings:\n  ${warnings.join('\n  ')}`);
  const meta = result.metafile as Metafile;
  return {
    outfile: opts.outfile,
    bytes: fs.statSync(opts.outfile).size,
    inputs: Object.keys(meta.inputs),
    twins: [...twins].sort(),
    warnings,
  };
}
