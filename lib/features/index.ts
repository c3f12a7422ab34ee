export * from './topExamples';
export * from './browser';
export * from './logitEffects';
