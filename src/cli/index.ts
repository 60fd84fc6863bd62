// The package's entry (`import … from 'sihl'`): the command line as a function, the sealed image codec,
// key files and errors. It sits in the top part because it reaches all of them.

export * from '../core/errors.ts';
export * from '../core/image/index.ts';
export * from '../core/keys.ts';
export type { Context } from './command.ts';
export { EXIT, type Io, main, version } from './main.ts';
