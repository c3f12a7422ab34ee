import * as fs from 'fs';
import * as path from 'path';
import { REPO_ROOT } from '../helpers';

/** Golden values made by tools/analysis_fixtures.py (numpy, float64); JSON null stands for NaN. */
export const FX: any = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'analysis', 'metrics.json'), 'utf8'));

/** A fixture list with null turned back into NaN. */
export function nums(v: (number | null)[]): number[] {
  return v.map((x) => (x === null ? NaN : x));
}
