/** Cross-layer feature evolution (seed 000): sparse one-pass collectors, storage, analyses. */
export * from './sparse';
export * from './stats';
export * from './moments';
export * from './pairTable';
export * from './collector';
export * from './finalize';
export * from './decoder';
export * from './storage';
export * from './louvain';
export * from './graph';
export * from './graphLayout';
export * from './topk';
export * from './browser';
export * from './driver';
export * from './featureCodeSource';
