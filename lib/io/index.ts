export * from './atomic';
export * from './dtypes';
export * from './safetensors';
export * from './weights';
