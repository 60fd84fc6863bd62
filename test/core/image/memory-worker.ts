// Child process for memory.test.ts: packs and unpacks one firmware file, then prints its peak RSS.
// A separate process so that each size has its own peak.

import { writeAtomically } from '../../../src/core/fs.ts';
import {
  openFileSource,
  PositionalWriter,
  packImage,
  unpackPayload,
  verifyImage,
} from '../../../src/core/image/index.ts';
import { makeTrust } from '../../helpers.ts';

const [input] = process.argv.slice(2) as [string];
const trust = makeTrust();
const image = `${input}.sihl`;
const result = await packImage(input, image, {
  model: 'm',
  version: '1',
  delegation: trust.delegation,
  signers: trust.approvers.slice(0, 2),
  encrypt: true,
  quality: 2,
});
const source = await openFileSource(image);
const verified = await verifyImage(source, { root: trust.root });
await writeAtomically(`${input}.out`, {}, async (handle) => {
  const writer = new PositionalWriter(handle, 0);
  await unpackPayload(source, verified, result.contentKey, writer);
  await writer.flush();
});
await source.close();
console.log(JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS }));
