// `npm run build` (and `prepack`): the JavaScript and declarations of src/ in dist/, for the package that
// users install (Node strips no types inside node_modules). In a checkout sihl runs its sources directly.
// The build goes to a fresh folder that replaces dist/ (or the folder given as the argument) only when
// complete, so a failed build leaves none.
import { execFileSync } from 'node:child_process';
import { cp, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = process.argv[2] ? resolve(process.argv[2]) : join(root, 'dist');
const building = join(dirname(dist), `dist.${process.pid}.tmp`);

/** Files the code reads beside itself at run time, copied as they are. */
const ASSETS = ['server/console/assets'];

async function* files(dir: string): AsyncGenerator<string> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else yield path;
  }
}

/** A relative import left with its .ts extension would fail in the installed package. */
async function checkNoTypeScriptImports(dir: string): Promise<void> {
  for await (const file of files(dir)) {
    if (!file.endsWith('.js')) continue;
    const found = (await readFile(file, 'utf8')).match(/['"`]\.{1,2}\/[^'"`]*\.ts['"`]/);
    if (found) throw new Error(`${file}: still names a .ts file: ${found[0]}`);
  }
}

try {
  const tsc = join(root, 'node_modules', '.bin', 'tsc');
  execFileSync(tsc, ['-p', join(root, 'tsconfig.build.json'), '--outDir', building], { stdio: 'inherit' });
  for (const asset of ASSETS) await cp(join(root, 'src', asset), join(building, asset), { recursive: true });
  await checkNoTypeScriptImports(building);
  await rm(dist, { recursive: true, force: true });
  await rename(building, dist);
} catch (error) {
  await rm(building, { recursive: true, force: true });
  process.stderr.write(`build: ${(error as Error).message}\n`);
  process.exitCode = 1;
}
