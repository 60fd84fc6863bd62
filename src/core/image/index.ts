export * from './file-source.ts';
export * from './pack.ts';
export * from './read.ts';
export * from './sign.ts';
export * from './source.ts';
export * from './unpack.ts';
export * from './verify.ts';
export * from './write.ts';
