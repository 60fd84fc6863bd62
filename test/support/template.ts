// Worlds built once, copied per test: the first call with a key builds the world into a template folder
// (workspace, keys, registry, devices, a release), every call gets a fresh copy of that folder, so tests
// stay independent and pay the build (key derivations, sealing, simulated devices) once per file.
import { rmSync } from 'node:fs';
import { cp, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tempDir } from '../helpers.ts';

const templates = new Map<string, Promise<string>>();

/**
 * A fresh folder holding what `build` made in its folder for this `key`; `build` runs once per key per
 * process. Whatever the world holds must name its paths relative to its folder.
 */
export async function fromTemplate(key: string, build: (dir: string) => Promise<void>): Promise<string> {
  let template = templates.get(key);
  if (template === undefined) {
    template = (async () => {
      // Not a test's temporary folder (those go when their test ends): this one lasts as long as the process.
      const dir = await mkdtemp(join(tmpdir(), 'sihl-template-'));
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
      await build(dir);
      return dir;
    })();
    templates.set(key, template);
    // A failed build is not kept: the next call tries again and reports its own failure.
    template.catch(() => templates.delete(key));
  }
  const dir = await tempDir();
  await cp(await template, dir, { recursive: true });
  return dir;
}
