/**
 * `npm run make:demo`: regenerate the shipped demo world in data/hub (seeded, deterministic on a
 * given backend): tokenizer, base model + training checkpoints, finetune, evaluation text, SAEs.
 * SAELAB_DEMO_QUICK=1 makes a tiny version into $SAELAB_DEMO_OUT (plumbing check).
 */
import * as fs from 'fs';
import * as path from 'path';
import { initBackend, describeBackend } from '../lib/backend';
import { SAELAB_ROOT } from '../lib/version';
import { writeShippedRepo } from '../lib/hub/cache';
import { writeJsonAtomic } from '../lib/io/atomic';
import { DEMO_REPOS, defaultDemoSpec, makeDemoModels, loadDemoCorpora } from '../lib/demo/world';
import { loadTokenizerFromDir } from '../lib/tokenizers/tokenizer';
import { makeDemoSaes } from '../lib/demo/saes';

async function main(): Promise<void> {
  const quick = process.env.SAELAB_DEMO_QUICK === '1';
  const out = process.env.SAELAB_DEMO_OUT ?? path.join(SAELAB_ROOT, 'data', 'hub');
  const workDir = path.join(SAELAB_ROOT, '.demo-work');
  process.env.SAELAB_SHIPPED_HUB_CACHE = out; // the models are read back through the hub resolver
  console.log(describeBackend(await initBackend()));
  const spec = defaultDemoSpec();
  if (quick) Object.assign(spec, { baseSteps: 20, checkpointSteps: [0, 10, 20], finetuneSteps: 10 });
  // --saes-only: keep the shipped models (and the report of how they were made), redo text and SAEs
  const saesOnly = process.argv.includes('--saes-only');
  const reportFile = path.join(path.dirname(out), 'demo-report.json');
  for (const repo of Object.values(DEMO_REPOS)) {
    if (saesOnly && (repo === DEMO_REPOS.base || repo === DEMO_REPOS.finetune)) continue;
    for (const kind of ['models', 'datasets']) fs.rmSync(path.join(out, `${kind}--${repo.replace('/', '--')}`), { recursive: true, force: true });
  }
  const start = Date.now();
  let made: Awaited<ReturnType<typeof makeDemoModels>>;
  if (saesOnly) {
    const corpora = loadDemoCorpora(path.join(workDir, 'corpora'), spec.validationFraction);
    const tokenizerDir = path.join(workDir, 'tokenizer');
    const previous = JSON.parse(fs.readFileSync(reportFile, 'utf8'));
    made = { report: previous, corpora, tokenizer: loadTokenizerFromDir(tokenizerDir), tokenizerDir };
  } else {
    made = await makeDemoModels(out, workDir, spec);
    writeJsonAtomic(reportFile, made.report);
  }
  const { report, corpora, tokenizer, tokenizerDir } = made;
  const jsonl = (docs: { id: string; text: string }[]) => Buffer.from(docs.map((d) => JSON.stringify({ text: d.text, source: d.id })).join('\n') + '\n');
  const card = `# ${DEMO_REPOS.text}\n\nHeld-out evaluation text for the saelab demo world: \`validation.jsonl\` is English prose (Brown corpus documents not used for training), \`code_validation.jsonl\` JavaScript (lodash modules not used for training). One JSON object per line: {"text", "source"}.\n`;
  await writeShippedRepo(out, DEMO_REPOS.text, 'main', { 'validation.jsonl': jsonl(corpora.english.validation), 'code_eval.jsonl': jsonl(corpora.code.validation), 'README.md': Buffer.from(card) }, { repoType: 'dataset' });
  const saes = await makeDemoSaes(out, spec, corpora, tokenizer, tokenizerDir, quick);
  const full = { ...report, saes, seconds: (Date.now() - start) / 1000 };
  writeJsonAtomic(reportFile, full);
  console.log(`demo world written to ${out} in ${full.seconds.toFixed(0)} s`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
