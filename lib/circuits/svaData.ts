/**
 * Subject-verb agreement prompt pairs in feature-circuits' JSON-lines layout
 * {"clean_prefix", "patch_prefix", "clean_answer", "patch_answer", "case"}: clean and patch differ in
 * the number of one noun, the answers are the agreeing verb forms (" is" / " are", ...). The generator
 * keeps only words whose forms are single tokens of the given tokenizer (so prefixes have equal length
 * and answers are one token); the loader turns records into PromptPairs grouped by prefix length.
 */
import * as fs from 'fs';
import { writeFileAtomic } from '../io/atomic';
import { PromptPairs } from './attribution';
import { mulberry32 as rng } from '../data/random';

export interface SvaRecord {
  clean_prefix: string;
  patch_prefix: string;
  clean_answer: string;
  patch_answer: string;
  case: string;
}

/** What the generator and loader need from a tokenizer (saelab's Tokenizer has these). */
export interface SvaTokenizer {
  /** ids without special tokens */
  encodeRaw(text: string): number[];
  bosTokenId?: number;
}

/** Singular/plural noun pairs (people and things common in English prose). */
export const SVA_NOUNS: Array<[string, string]> = [
  ['man', 'men'], ['woman', 'women'], ['child', 'children'], ['person', 'people'], ['friend', 'friends'], ['boy', 'boys'],
  ['girl', 'girls'], ['father', 'fathers'], ['mother', 'mothers'], ['teacher', 'teachers'], ['student', 'students'],
  ['doctor', 'doctors'], ['officer', 'officers'], ['writer', 'writers'], ['author', 'authors'], ['player', 'players'],
  ['member', 'members'], ['leader', 'leaders'], ['worker', 'workers'], ['farmer', 'farmers'], ['parent', 'parents'],
  ['king', 'kings'], ['dog', 'dogs'], ['horse', 'horses'], ['house', 'houses'], ['car', 'cars'],
  ['book', 'books'], ['school', 'schools'], ['city', 'cities'], ['church', 'churches'], ['table', 'tables'],
  ['door', 'doors'], ['road', 'roads'], ['tree', 'trees'], ['letter', 'letters'], ['story', 'stories'],
  ['report', 'reports'], ['plan', 'plans'], ['idea', 'ideas'], ['group', 'groups'], ['family', 'families'],
  ['company', 'companies'], ['state', 'states'], ['program', 'programs'], ['system', 'systems'], ['problem', 'problems'],
  ['question', 'questions'], ['result', 'results'], ['party', 'parties'], ['line', 'lines'], ['word', 'words'],
  ['name', 'names'], ['number', 'numbers'], ['nurse', 'nurses'],
  ['pilot', 'pilots'], ['judge', 'judges'], ['senator', 'senators'], ['artist', 'artists'], ['baker', 'bakers'],
  ['year', 'years'], ['day', 'days'], ['time', 'times'], ['thing', 'things'], ['way', 'ways'], ['eye', 'eyes'],
  ['hand', 'hands'], ['part', 'parts'], ['place', 'places'], ['point', 'points'], ['fact', 'facts'], ['case', 'cases'],
  ['week', 'weeks'], ['area', 'areas'], ['hour', 'hours'], ['law', 'laws'], ['force', 'forces'], ['wife', 'wives'],
  ['life', 'lives'], ['foot', 'feet'], ['country', 'countries'], ['body', 'bodies'], ['function', 'functions'],
  ['value', 'values'], ['object', 'objects'], ['element', 'elements'], ['key', 'keys'], ['type', 'types'],
];

/** Verb answers: [singular, plural] forms written with their leading space. */
export const SVA_VERBS: Array<[string, string]> = [[' is', ' are'], [' was', ' were'], [' has', ' have'], [' does', ' do']];

/** Prepositions for the noun-PP template ("The man near the tables"). */
export const SVA_PREPOSITIONS = ['near', 'behind', 'beside', 'with', 'from', 'of'];

/** Sentence openers for the pronoun template ("In the end he" -> " was"). */
export const SVA_OPENERS = [
  'In the end', 'At the time', 'After the war', 'In the morning', 'By the time', 'At that point', 'In the past', 'For a while',
  'At first', 'Later', 'Then', 'But then', 'And then', 'So', 'Yet', 'Still', 'Now', 'Once again', 'In fact', 'Of course',
  'Even so', 'After that', 'Before that', 'At home', 'That night', 'That day', 'This time', 'Last year', 'Every day',
  'Sometimes', 'Often', 'Perhaps', 'Suddenly', 'Meanwhile', 'At last', 'Since then',
];

/** Singular / plural subject pronouns for the pronoun template (lower case, after an opener). */
export const SVA_PRONOUNS: Array<[string, string]> = [['he', 'they'], ['she', 'they']];

export type SvaTemplate = 'simple' | 'nounpp' | 'rc' | 'pronoun';

export interface SvaGeneratorOptions {
  /** templates to use (default all three) */
  templates?: SvaTemplate[];
  /** records per template and case (default 40) */
  perCase?: number;
  seed?: number;
  nouns?: Array<[string, string]>;
  verbs?: Array<[string, string]>;
  /** pronoun template: openers and [singular, plural] pronouns (defaults SVA_OPENERS, SVA_PRONOUNS) */
  openers?: string[];
  pronouns?: Array<[string, string]>;
}

/** True when `text` (with its leading space) is one token. */
function oneToken(tok: SvaTokenizer, text: string): boolean {
  return tok.encodeRaw(text).length === 1;
}

/** Noun pairs and verb pairs whose forms are all single tokens (nouns with a leading space). */
export function svaVocabulary(tok: SvaTokenizer, opts: Pick<SvaGeneratorOptions, 'nouns' | 'verbs'> = {}): { nouns: Array<[string, string]>; verbs: Array<[string, string]> } {
  const seen = new Set<string>();
  const nouns = (opts.nouns ?? SVA_NOUNS).filter(([s, p]) => {
    if (seen.has(s)) return false;
    seen.add(s);
    return oneToken(tok, ` ${s}`) && oneToken(tok, ` ${p}`);
  });
  const verbs = (opts.verbs ?? SVA_VERBS).filter(([s, p]) => oneToken(tok, s) && oneToken(tok, p));
  return { nouns, verbs };
}


/**
 * Generate agreement pairs from short templates with the tokenizer's single-token words:
 *  simple  "The {N}" -> verb agreeing with N; case = clean number ("singular" / "plural")
 *  nounpp  "The {N} {prep} the {M}" -> verb agreeing with N; case = "<N number>_<M number>"
 *  rc      "The {N} that the {M} liked" -> verb agreeing with N (across a relative clause); case as nounpp
 *  pronoun "{opener} he" / "{opener} they" -> verb agreeing with the pronoun; case = clean number
 *          (opt-in: for small vocabularies with few single-token noun pairs, e.g. the demo world)
 * Clean and patch differ only in the subject's number. Deterministic for a seed; duplicates removed.
 */
export function generateSvaPairs(tok: SvaTokenizer, opts: SvaGeneratorOptions = {}): SvaRecord[] {
  const { nouns, verbs } = svaVocabulary(tok, opts);
  const templates = opts.templates ?? ['simple', 'nounpp', 'rc'];
  const pronouns = (opts.pronouns ?? SVA_PRONOUNS).filter(([s, p]) => oneToken(tok, ` ${s}`) && oneToken(tok, ` ${p}`));
  if (templates.length === 1 && templates[0] === 'pronoun') {
    if (!pronouns.length || !verbs.length) throw new Error(`the tokenizer has too few single-token words for pronoun agreement pairs (${pronouns.length} pronoun pairs, ${verbs.length} verb pairs)`);
  } else if (nouns.length < 2 || !verbs.length) {
    throw new Error(`the tokenizer has too few single-token words for agreement pairs (${nouns.length} noun pairs, ${verbs.length} verb pairs); pass nouns/verbs lists that it encodes as one token each`);
  }
  const preps = SVA_PREPOSITIONS.filter((p) => oneToken(tok, ` ${p}`));
  const rcVerb = [' liked', ' saw', ' knew', ' met'].find((v) => oneToken(tok, v));
  const openers = opts.openers ?? SVA_OPENERS;
  const perCase = opts.perCase ?? 40;
  const r = rng(opts.seed ?? 0);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const out: SvaRecord[] = [];
  const seen = new Set<string>();
  const num = (plural: boolean) => (plural ? 'plural' : 'singular');
  for (const template of templates) {
    if (template === 'nounpp' && !preps.length) continue;
    if (template === 'rc' && !rcVerb) continue;
    if (template === 'pronoun') {
      if (!pronouns.length) continue;
      for (const cleanPlural of [false, true]) {
        let made = 0;
        for (let tries = 0; made < perCase && tries < perCase * 50; tries++) {
          const opener = pick(openers);
          const [ps, pp] = pick(pronouns);
          const [vs, vp] = pick(verbs);
          const rec: SvaRecord = {
            clean_prefix: `${opener} ${cleanPlural ? pp : ps}`, patch_prefix: `${opener} ${cleanPlural ? ps : pp}`,
            clean_answer: cleanPlural ? vp : vs, patch_answer: cleanPlural ? vs : vp, case: `pronoun:${num(cleanPlural)}`,
          };
          const key = JSON.stringify(rec);
          if (seen.has(key)) continue;
          seen.add(key);
          out.push(rec);
          made++;
        }
      }
      continue;
    }
    const cases: Array<[boolean, boolean]> = template === 'simple' ? [[false, false], [true, false]] : [[false, false], [false, true], [true, false], [true, true]];
    for (const [cleanPlural, distractorPlural] of cases) {
      const label = template === 'simple' ? num(cleanPlural) : `${num(cleanPlural)}_${num(distractorPlural)}`;
      let made = 0;
      for (let tries = 0; made < perCase && tries < perCase * 50; tries++) {
        const n = pick(nouns);
        const m = pick(nouns.filter((x) => x !== n));
        const [vs, vp] = pick(verbs);
        const prep = preps.length ? pick(preps) : '';
        const subj = (plural: boolean) => (plural ? n[1] : n[0]);
        const dist = distractorPlural ? m[1] : m[0];
        const prefix = (plural: boolean) => template === 'simple' ? `The ${subj(plural)}`
          : template === 'nounpp' ? `The ${subj(plural)} ${prep} the ${dist}`
            : `The ${subj(plural)} that the ${dist}${rcVerb}`;
        const rec: SvaRecord = {
          clean_prefix: prefix(cleanPlural), patch_prefix: prefix(!cleanPlural),
          clean_answer: cleanPlural ? vp : vs, patch_answer: cleanPlural ? vs : vp, case: `${template}:${label}`,
        };
        const key = JSON.stringify(rec);
        if (seen.has(key)) continue;
        seen.add(key);
        out.push(rec);
        made++;
      }
    }
  }
  return out;
}

/** JSON lines of records (one object per line, feature-circuits' layout). */
export function svaToJsonl(records: SvaRecord[]): string {
  return records.map((x) => JSON.stringify({ clean_prefix: x.clean_prefix, patch_prefix: x.patch_prefix, clean_answer: x.clean_answer, patch_answer: x.patch_answer, case: x.case })).join('\n') + '\n';
}

/** Write records as JSON lines (atomically). */
export function writeSvaJsonl(file: string, records: SvaRecord[]): void {
  writeFileAtomic(file, svaToJsonl(records));
}

/** Parse JSON lines of records; a bad line is an Error naming the file and line. */
export function readSvaJsonl(file: string): SvaRecord[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const out: SvaRecord[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let o: Record<string, unknown>;
    try { o = JSON.parse(line); } catch (e) { throw new Error(`${file}:${i + 1}: not JSON (${(e as Error).message})`); }
    for (const k of ['clean_prefix', 'patch_prefix', 'clean_answer', 'patch_answer']) {
      if (typeof o[k] !== 'string') throw new Error(`${file}:${i + 1}: field '${k}' must be a string`);
    }
    out.push({ clean_prefix: o.clean_prefix as string, patch_prefix: o.patch_prefix as string, clean_answer: o.clean_answer as string, patch_answer: o.patch_answer as string, case: typeof o.case === 'string' ? o.case : '' });
  });
  return out;
}

/** Prompt pairs of one prefix length, with the records they came from. */
export interface SvaGroup extends PromptPairs {
  length: number;
  records: SvaRecord[];
}

/**
 * Tokenize records as feature-circuits' load_examples does: prefixes (with BOS when prependBos), one-token
 * answers, equal-length clean/patch prefixes, and prefix + answer tokenizing as the concatenation; others are
 * skipped (counted in `skipped`). Groups by prefix length, largest group first.
 */
export function svaPromptPairs(records: SvaRecord[], tok: SvaTokenizer, opts: { prependBos?: boolean } = {}): { groups: SvaGroup[]; skipped: number } {
  const bos = opts.prependBos ?? true;
  if (bos && tok.bosTokenId === undefined) throw new Error('the tokenizer has no BOS token; pass prependBos: false');
  const ids = (text: string) => (bos ? [tok.bosTokenId as number, ...tok.encodeRaw(text)] : tok.encodeRaw(text));
  const byLen = new Map<number, SvaGroup>();
  let skipped = 0;
  for (const rec of records) {
    const c = ids(rec.clean_prefix);
    const p = ids(rec.patch_prefix);
    const ca = tok.encodeRaw(rec.clean_answer);
    const pa = tok.encodeRaw(rec.patch_answer);
    const same = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
    if (ca.length !== 1 || pa.length !== 1 || c.length !== p.length
      || !same([...c, ...ca], ids(rec.clean_prefix + rec.clean_answer)) || !same([...p, ...pa], ids(rec.patch_prefix + rec.patch_answer))) {
      skipped++;
      continue;
    }
    let g = byLen.get(c.length);
    if (!g) byLen.set(c.length, (g = { length: c.length, clean: [], patch: [], cleanAnswers: [], patchAnswers: [], records: [] }));
    g.clean.push(c);
    g.patch.push(p);
    g.cleanAnswers.push(ca[0]);
    g.patchAnswers.push(pa[0]);
    g.records.push(rec);
  }
  const groups = [...byLen.values()].sort((a, b) => b.clean.length - a.clean.length || a.length - b.length);
  return { groups, skipped };
}
