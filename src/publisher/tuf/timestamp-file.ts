// timestamp.json is the one metadata file replaced in place, and what every device polls with
// If-None-Match. Web servers that make a strong ETag from the modification time in whole seconds and
// the size (nginx: "mtime-size") would give two versions of the same size written within one second the
// same ETag, and a device would get 304 for the newer one. So each new file's mtime is at least one whole
// second past the one it replaces.
import { stat } from 'node:fs/promises';
import { writeAtomically } from '../../core/fs.ts';

export async function replaceTimestampFile(path: string, bytes: Uint8Array): Promise<void> {
  const before = await stat(path).catch(() => undefined);
  const floor = before ? Math.floor(before.mtimeMs / 1000) + 1 : 0;
  await writeAtomically(path, { overwrite: true }, async (handle) => {
    await handle.writeFile(bytes);
    if (Date.now() / 1000 < floor) await handle.utimes(floor, floor);
  });
}
