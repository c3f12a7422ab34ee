export * from './atomic';
export * from './dtypes';
export * from './safetensors';
export * from './weights';
export * from './pickle';
export * from './torch';
export * from './zip';
export * from './safetensorsStream';
