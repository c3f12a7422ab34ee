/**
 * Crosscoder folders in a browser: the format is shared (formatCore.ts); reading and writing folders
 * needs Node's file system, so these entry points say so instead of failing inside a bundler's stub.
 */
import type * as NodeFormat from './format';

export * from './formatCore';

const needsNode = (what: string): never => {
  throw new Error(`${what} reads or writes a folder on disk and runs only in Node (saelab's CLI or notebooks), not in a browser`);
};

export const saveCrosscoderInto: typeof NodeFormat.saveCrosscoderInto = async () => needsNode('saveCrosscoderInto');
export const loadCrosscoderFolder: typeof NodeFormat.loadCrosscoderFolder = () => needsNode('loadCrosscoderFolder');
