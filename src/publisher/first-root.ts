// TUF root version 1 before anything is published: root keys stay offline, so `release publish` cannot
// sign it. Every key change that leaves the roles complete (as many approvers as approvals) has the
// root keys sign root version 1 for the roles after it into trust/tuf-root.json (docs/WORKSPACE.md
// §Layout); the first publication publishes that file as it is.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Metadata, Root } from '@tufjs/models';
import { SihlError } from '../core/errors.ts';
import { exists, readSmallFile, writeFileAtomic } from '../core/fs.ts';
import { LIMITS } from '../core/limits.ts';
import { parseMetadata, serialize } from './tuf/metadata.ts';
import type { Workspace } from './workspace.ts';

export function firstRootPath(workspace: Workspace): string {
  return join(workspace.dir, 'trust', 'tuf-root.json');
}

export async function writeFirstRoot(workspace: Workspace, root: Metadata<Root> | undefined): Promise<void> {
  const path = firstRootPath(workspace);
  if (root) await writeFileAtomic(path, serialize(root), { overwrite: true });
  else await rm(path, { force: true });
}

/** The root-signed TUF root version 1 that the first publication publishes. */
export async function readFirstRoot(workspace: Workspace): Promise<Metadata<Root>> {
  const path = firstRootPath(workspace);
  if (!(await exists(path))) {
    throw new SihlError(
      'FILE_NOT_FOUND',
      'no TUF root version 1 signed by root yet: it is signed when the approvers reach the approvals (sihl keys add)',
      { subject: path },
    );
  }
  return parseMetadata('root', await readSmallFile(path, LIMITS.trustFileBytes));
}
