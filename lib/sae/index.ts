export * from './config';
export * from './sae';
export * from './registry';
export { loadSAEFolder, loadPretrainedSAE, LoadedSAE, FolderLoadOptions, gemmaScopeRawConfig } from './loading';
export { parsePep440, comparePep440 } from './pep440';
export * from './splice';
export * from './modelOptions';
