/**
 * Optimal one-to-one assignment (Hungarian / Munkres algorithm, from the `munkres` package) on a dense
 * similarity matrix [rows, cols], maximising the total similarity.
 */
import { munkres } from 'munkres';

/** A dense row-major matrix [rows, cols]. */
export interface DenseMatrix {
  values: Float32Array;
  rows: number;
  cols: number;
}

export interface Assignment {
  /** partner column of each row [rows]; -1 when the row is left unmatched (rows > cols) */
  rowToCol: Int32Array;
  /** partner row of each column [cols]; -1 when unmatched (cols > rows) */
  colToRow: Int32Array;
  /** sum of the matched pairs' values */
  total: number;
}

/** Checks shape and finiteness; throws naming `label`. */
export function checkMatrix(m: DenseMatrix, label = 'matrix'): void {
  if (!Number.isInteger(m.rows) || !Number.isInteger(m.cols) || m.rows < 0 || m.cols < 0) throw new Error(`${label}: bad shape [${m.rows}, ${m.cols}]`);
  if (m.values.length !== m.rows * m.cols) throw new Error(`${label}: ${m.values.length} values for shape [${m.rows}, ${m.cols}]`);
  for (let i = 0; i < m.values.length; i++) {
    if (!Number.isFinite(m.values[i])) throw new Error(`${label}: value ${m.values[i]} at row ${Math.floor(i / m.cols)}, column ${i % m.cols}; similarities must be finite`);
  }
}

/**
 * The one-to-one assignment of rows to columns that maximises the sum of `sim` over matched pairs;
 * min(rows, cols) pairs are matched. O(min^2 * max) time; the cost matrix (-sim) is held as float64 rows.
 */
export function maxSimilarityAssignment(sim: DenseMatrix): Assignment {
  checkMatrix(sim, 'maxSimilarityAssignment');
  const { rows, cols, values } = sim;
  const rowToCol = new Int32Array(rows).fill(-1);
  const colToRow = new Int32Array(cols).fill(-1);
  if (rows === 0 || cols === 0) return { rowToCol, colToRow, total: 0 };
  // cost = -similarity, as float64 rows (munkres reads MatrixLike; a Float64Array per row)
  const cost: Float64Array[] = new Array(rows);
  for (let r = 0; r < rows; r++) {
    const row = new Float64Array(cols);
    const off = r * cols;
    for (let c = 0; c < cols; c++) row[c] = -values[off + c];
    cost[r] = row;
  }
  const pairs = munkres(cost);
  let total = 0;
  for (const [r, c] of pairs) {
    rowToCol[r] = c;
    colToRow[c] = r;
    total += values[r * cols + c];
  }
  return { rowToCol, colToRow, total };
}
