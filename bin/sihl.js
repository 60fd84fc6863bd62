#!/usr/bin/env node
// The `sihl` command. In a checkout, Node 24 runs the TypeScript sources directly (type stripping); an
// installed package runs the JavaScript that packing built into dist/ (Node strips no types in node_modules).
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
const fromSource = existsSync(source) && !source.pathname.includes('/node_modules/');
const { main } = await import(fromSource ? source.href : '../dist/cli/main.js');

process.exitCode = await main(process.argv.slice(2));
