export * from './aead.ts';
export * from './auth.ts';
export * from './box.ts';
export * from './hash.ts';
export * from './passphrase-box.ts';
export * from './sign.ts';
export * from './signer.ts';
export { randomBytes, wipe } from './sodium.ts';
export * from './stream.ts';
