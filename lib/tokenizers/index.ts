export * from './tokenizer';
export * from './compare';
