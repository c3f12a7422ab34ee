import { L0Accumulator, FeatureDensityAccumulator, ReconstructionAccumulator, CeAccumulator, LogActivationHistogramAccumulator } from '../../analysis/saeMetrics';
import { ColumnPearsonAccumulator, ActivationErrorAccumulator } from '../../analysis/transfer';
import { EvalAccumulators } from '../saeEval';
import { FamilyName, TransferAccumulators } from '../featureTransfer';

/** Serialisable state of stage 04's accumulators for one model. */
export type EvalState = { [K in keyof EvalAccumulators]: EvalAccumulators[K] extends number ? number : ReturnType<Extract<EvalAccumulators[K], { toJSON(): unknown }>['toJSON']> };

export function evalToJSON(a: EvalAccumulators): EvalState {
  return { l0: a.l0.toJSON(), density: a.density.toJSON(), recon: a.recon.toJSON(), ce: a.ce.toJSON(), logHist: a.logHist.toJSON(), outlierTokens: a.outlierTokens };
}

export function evalFromJSON(s: EvalState): EvalAccumulators {
  return {
    l0: L0Accumulator.fromJSON(s.l0), density: FeatureDensityAccumulator.fromJSON(s.density), recon: ReconstructionAccumulator.fromJSON(s.recon),
    ce: CeAccumulator.fromJSON(s.ce), logHist: LogActivationHistogramAccumulator.fromJSON(s.logHist), outlierTokens: s.outlierTokens,
  };
}

/** Merge `b` into `a` (sums and counts combined; `a` is returned). */
export function mergeEval(a: EvalAccumulators, b: EvalAccumulators): EvalAccumulators {
  a.l0.merge(b.l0);
  a.density.merge(b.density);
  a.recon.merge(b.recon);
  a.ce.merge(b.ce);
  a.logHist.merge(b.logHist);
  a.outlierTokens += b.outlierTokens;
  return a;
}

/** Serialisable state of stage 05's per-family accumulators. */
export interface TransferState {
  pearson: Array<[FamilyName, ReturnType<ColumnPearsonAccumulator['toJSON']>]>;
  errors: Array<[FamilyName, ReturnType<ActivationErrorAccumulator['toJSON']>]>;
}

export function transferToJSON(a: TransferAccumulators): TransferState {
  return { pearson: [...a.pearson].map(([g, v]) => [g, v.toJSON()]), errors: [...a.errors].map(([g, v]) => [g, v.toJSON()]) };
}

export function transferFromJSON(s: TransferState): TransferAccumulators {
  return {
    pearson: new Map(s.pearson.map(([g, v]) => [g, ColumnPearsonAccumulator.fromJSON(v)])),
    errors: new Map(s.errors.map(([g, v]) => [g, ActivationErrorAccumulator.fromJSON(v)])),
  };
}

/** Merge `b` into `a` family by family; the families must be the same (same seeded sample). */
export function mergeTransfer(a: TransferAccumulators, b: TransferAccumulators): TransferAccumulators {
  for (const [g, acc] of b.pearson) {
    const mine = a.pearson.get(g);
    if (!mine) throw new Error(`feature transfer merge: family '${g}' is missing from the first shard`);
    mine.merge(acc);
  }
  for (const [g, acc] of b.errors) {
    const mine = a.errors.get(g);
    if (!mine) throw new Error(`feature transfer merge: family '${g}' is missing from the first shard`);
    mine.merge(acc);
  }
  return a;
}
