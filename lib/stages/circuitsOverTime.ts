/**
 * Stage 12: the subject-verb agreement circuit at every training checkpoint, with that checkpoint's model
 * and its stage-10 SAE. The sweep has one SAE per checkpoint at one hook, so each circuit is over that hook:
 * its features plus the hook's error node (everything the SAE misses), with faithfulness measured by
 * mean-ablating the nodes outside the circuit there. Nodes are carried between consecutive checkpoints by
 * stage 11's matchings. Writes circuits.json (every checkpoint's circuit, node effects and faithfulness
 * curve), circuit_<label>.dot and .svg of the final circuit, results.json (tables, plots, appearance).
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeJsonAtomic, writeFileAtomic } from '../io/atomic';
import { StageContext } from '../notebook/stage';
import { StageOutput, defineStage } from './define';
import { ExperimentConfig } from './config';
import { Row } from '../plots/table';
import { Progress } from '../notebook/progress';
import { interruptible } from '../notebook/interrupt';
import { HookedTransformer } from '../model/hookedTransformer';
import { loadTokenizer } from '../tokenizers/tokenizer';
import { SAELAB_ROOT } from '../version';
import { saeSet } from '../circuits/common';
import { PromptPairs } from '../circuits/attribution';
import { readSvaJsonl, generateSvaPairs, svaPromptPairs, SvaRecord } from '../circuits/svaData';
import { circuitDot, circuitSvg } from '../circuits/circuit';
import { checkpointsConfig } from '../checkpoints/config';
import { loadSweepSAE } from '../checkpoints/sweep';
import {
  CheckpointCircuit, CircuitsOverTime, checkpointCircuit, circuitsOverTime, circuitsOverTimeTable, finalCircuitNodesTable, circuitsOverTimeSpecs,
} from '../checkpoints/circuitsOverTime';
import { requireCheckpointSaes, sweepDirOf } from './checkpointSaes';
import { STAGE_FEATURE_MATCHING, featureMatchingInputs, requireMatchings } from './featureMatching';

export const STAGE_CIRCUITS_OVER_TIME = '12_circuits_over_time';

export interface CircuitsOverTimeResult {
  reused: boolean;
  hook: string;
  /** prompt pairs used (the largest group of equal-length prefixes, first nExamples) and the prefix length */
  examples: number;
  prefixLength: number;
  /** index and step of the checkpoint where the circuit appears, or null */
  appearedAt: number | null;
  appearedAtStep: number | null;
  overTime: CircuitsOverTime;
  table: Row[];
  finalNodesTable: Row[];
  plots: { faithfulness: object; persistence: object };
  finalCircuitSvg: string;
}

export function circuitsOverTimeInputs(config: ExperimentConfig): unknown {
  return { matching: featureMatchingInputs(config), circuit: checkpointsConfig(config).circuit, prependBos: config.prependBos };
}

/** The prompt pairs of the circuit: the config's JSON-lines file ('' = generated for the tokenizer), largest equal-length group. */
export async function circuitPromptPairs(config: ExperimentConfig): Promise<PromptPairs & { length: number }> {
  const c = checkpointsConfig(config);
  const tok = await loadTokenizer(c.model);
  let records: SvaRecord[];
  if (c.circuit.dataset === '') records = generateSvaPairs(tok, { seed: config.seed });
  else {
    const file = path.isAbsolute(c.circuit.dataset) || fs.existsSync(c.circuit.dataset) ? c.circuit.dataset : path.join(SAELAB_ROOT, c.circuit.dataset);
    records = readSvaJsonl(file);
  }
  const { groups } = svaPromptPairs(records, tok, { prependBos: config.prependBos });
  if (!groups.length) throw new Error(`checkpoints.circuit.dataset '${c.circuit.dataset}': no prompt pair tokenizes to equal-length prefixes with one-token answers for ${c.model}`);
  const g = groups[0];
  const n = Math.min(c.circuit.nExamples, g.clean.length);
  return { clean: g.clean.slice(0, n), patch: g.patch.slice(0, n), cleanAnswers: g.cleanAnswers.slice(0, n), patchAnswers: g.patchAnswers.slice(0, n), length: g.length };
}

/** Stage 12 (see the module comment). */
export const circuitsOverTimeStage = defineStage<CircuitsOverTimeResult>({
  name: STAGE_CIRCUITS_OVER_TIME,
  inputs: circuitsOverTimeInputs,
  run: circuitsOverTimeRun,
});

async function circuitsOverTimeRun(ctx: StageContext): Promise<StageOutput<CircuitsOverTimeResult>> {
  const { config, stageDir } = ctx;
  const c = checkpointsConfig(config);
  const { dir: sweepStage, spec } = requireCheckpointSaes(ctx);
  const assignments = requireMatchings(ctx);
  const pairs = await circuitPromptPairs(config);
  const circuits: CheckpointCircuit[] = [];
  const progress = new Progress('circuit per checkpoint', spec.checkpoints.length);
  const stopPoint = interruptible('circuits over time');
  for (const cp of spec.checkpoints) {
    await stopPoint(`before checkpoint ${cp.label}`);
    const model = await HookedTransformer.fromPretrained(c.model, { revision: cp.revision ?? cp.label });
    const sae = await loadSweepSAE(sweepDirOf(sweepStage), spec, cp);
    try {
      circuits.push(await checkpointCircuit(model, saeSet([sae]), pairs, cp, {
        method: c.circuit.method, igSteps: c.circuit.igSteps, nodeThreshold: c.circuit.nodeThreshold, edgeThreshold: c.circuit.edgeThreshold, thresholds: c.circuit.thresholds,
      }));
    } finally {
      sae.dispose();
      model.dispose();
    }
    progress.tick();
  }
  progress.done();
  const overTime = circuitsOverTime(circuits, assignments, { appearThreshold: c.circuit.appearThreshold, minModelEffect: c.circuit.minModelEffect });
  const last = circuits[circuits.length - 1];
  const title = `${c.model} ${last.label}: SVA circuit at ${c.hook} (faithfulness ${last.faithfulness.toFixed(2)})`;
  const dot = circuitDot(last.circuit, { title });
  // without the XML declaration and doctype, so the SVG can sit inside HTML (notebook export)
  const svg = (await circuitSvg(last.circuit, { title })).replace(/^\s*<\?xml[^>]*>\s*/, '').replace(/<!DOCTYPE[^>]*>\s*/, '');
  writeJsonAtomic(path.join(stageDir, 'circuits.json'), circuits);
  writeFileAtomic(path.join(stageDir, `circuit_${last.label}.dot`), dot);
  writeFileAtomic(path.join(stageDir, `circuit_${last.label}.svg`), svg);
  const opts = { width: 420, height: 220 };
  const result = {
    hook: c.hook, examples: pairs.clean.length, prefixLength: pairs.length,
    appearedAt: overTime.appearedAt, appearedAtStep: overTime.appearedAt === null ? null : overTime.steps[overTime.appearedAt],
    overTime, table: circuitsOverTimeTable(overTime), finalNodesTable: finalCircuitNodesTable(overTime),
    plots: circuitsOverTimeSpecs(overTime, opts), finalCircuitSvg: svg,
  };
  return { result, artifacts: ['results.json', 'circuits.json', `circuit_${last.label}.dot`, `circuit_${last.label}.svg`], provenance: { matching: STAGE_FEATURE_MATCHING } };
}
