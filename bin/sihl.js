#!/usr/bin/env node
// The `sihl` command. In a checkout, Node 24 runs the TypeScript sources directly (type stripping); an
// installed package runs the JavaScript that packing built into dist/ (Node strips no types in node_modules).
import { existsSync } from 'node:fs';

/** The oldest Node.js that runs every verb (node:sqlite without a flag, tuf-js); package.json's engines. */
const OLDEST = [22, 22, 2];

function older(version, than) {
  const parts = version.split('.').map(Number);
  const i = parts.findIndex((part, j) => part !== than[j]);
  return i !== -1 && i < than.length && parts[i] < than[i];
}

const source = new URL('../src/cli/main.ts', import.meta.url);
const built = new URL('../dist/cli/main.js', import.meta.url);
const inCheckout = existsSync(source) && !source.pathname.includes('/node_modules/');
const strips = process.features.typescript !== undefined && process.features.typescript !== false;

if (older(process.versions.node, OLDEST)) {
  process.stderr.write(`sihl: needs Node.js ${OLDEST.join('.')} or later; this is ${process.version}\n`);
  process.exit(2);
}
if (inCheckout && !strips && !existsSync(built)) {
  process.stderr.write(
    `sihl: this checkout runs its TypeScript sources, which needs Node.js 24 (this is ${process.version}):\n` +
      'run `npx sihl` or `npm run sihl --` here (npm install brings Node 24), or `npm run build` first\n',
  );
  process.exit(2);
}
const { main } = await import(inCheckout && strips ? source.href : built.href);

process.exitCode = await main(process.argv.slice(2));
