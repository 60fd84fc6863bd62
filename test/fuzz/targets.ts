// Every fuzz target, in the order they run.
import { bootStateTarget } from './boot-state-targets.ts';
import {
  delegationTarget,
  envelopeTarget,
  manifestTarget,
  reportTarget,
  rootChainTarget,
  signatureBlockTarget,
} from './format-targets.ts';
import { bootloaderTarget, imageTarget } from './image-targets.ts';
import type { FuzzTarget } from './target.ts';
import { tufTarget } from './tuf-targets.ts';

export const TARGETS: readonly FuzzTarget[] = [
  imageTarget,
  bootloaderTarget,
  envelopeTarget,
  rootChainTarget,
  delegationTarget,
  manifestTarget,
  signatureBlockTarget,
  bootStateTarget,
  reportTarget,
  tufTarget,
];
