// tag: slow (workspaces, devices and servers made for real)
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { bufferSource, verifyImage } from '../../src/core/image/index.ts';
import { decodeRootFile } from '../../src/core/keys.ts';
import { approveRelease, createRelease, openRelease } from '../../src/publisher/release.ts';
import { addApprover } from '../../src/publisher/setup.ts';
import type { Workspace } from '../../src/publisher/workspace.ts';
import { tempDir, writeTemp } from '../helpers.ts';
import { PYBRICKS, pybricksFirmware } from '../support/fixtures.ts';
import { initOffline, rootKeysOf } from '../support/offline-root.ts';

const PASS = 'release passphrase';
const passphrases = async () => PASS;

async function workspaceWithApprovers(count: number) {
  const dir = await tempDir();
  let workspace = await initOffline(join(dir, 'acme'), { passphrase: PASS });
  const rootKeys = await rootKeysOf(workspace, PASS);
  for (const name of ['alice', 'bob', 'carol'].slice(0, count)) {
    workspace = (await addApprover(workspace, name, PASS, passphrases, { rootKeys })).workspace;
  }
  const firmware = await writeTemp(dir, 'movehub.bin', await pybricksFirmware(PYBRICKS, 'movehub'));
  return { workspace, firmware };
}

/** Release 1.0.0 for movehub, signed only (no encryption). */
function signedOnly(workspace: Workspace, firmware: string) {
  return createRelease(workspace, firmware, {
    model: 'movehub',
    version: '1.0.0',
    encrypt: false,
    passphrase: PASS,
  });
}

async function verdict(
  workspace: Awaited<ReturnType<typeof workspaceWithApprovers>>['workspace'],
  image: string,
) {
  const root = decodeRootFile(new Uint8Array(await readFile(workspace.rootTrustPath)));
  try {
    await verifyImage(bufferSource(new Uint8Array(await readFile(image))), { root }, { model: 'movehub' });
    return 'valid';
  } catch (error) {
    return (error as { code: string }).code;
  }
}

test('a release needs both approvals before a device would accept it', async () => {
  const { workspace, firmware } = await workspaceWithApprovers(2);
  const release = await createRelease(workspace, firmware, {
    model: 'movehub',
    version: '7.28.0',
    securityVersion: 1,
    encrypt: true,
    passphrase: PASS,
  });
  assert.equal(release.info.delegationVersion, 1);
  assert.equal(await verdict(workspace, release.imagePath), 'SIGNATURE_THRESHOLD');
  const first = await approveRelease(workspace, release, 'alice', passphrases);
  assert.deepEqual([first.signatures, first.threshold], [1, 2]);
  assert.equal(
    await verdict(workspace, release.imagePath),
    'SIGNATURE_THRESHOLD',
    'one approver alone cannot ship',
  );
  await assert.rejects(approveRelease(workspace, release, 'alice', passphrases), {
    code: 'SIGNATURE_DUPLICATE_KEY',
  });
  await approveRelease(workspace, await openRelease(release.dir), 'bob', passphrases);
  assert.equal(await verdict(workspace, release.imagePath), 'valid');
});

test('only the workspace approvers can approve, and a release exists once', async () => {
  const { workspace, firmware } = await workspaceWithApprovers(2);
  const release = await signedOnly(workspace, firmware);
  await assert.rejects(approveRelease(workspace, release, 'root-1', passphrases), {
    code: 'USAGE',
    message: /not an approver/,
  });
  await assert.rejects(signedOnly(workspace, firmware), { code: 'FILE_EXISTS' });
});

test('a release cannot be made before there are enough approvers', async () => {
  const { workspace, firmware } = await workspaceWithApprovers(1);
  await assert.rejects(
    createRelease(workspace, firmware, {
      model: 'movehub',
      version: '1.0.0',
      encrypt: true,
      passphrase: PASS,
    }),
    { code: 'USAGE', message: /add approvers first: 1 of 2/ },
  );
});

test('the gate refuses a release whose delegation is older than the approvers devices will have seen', async () => {
  const { checkReleaseInWorkspace } = await import('../../src/publisher/gate.ts');
  const { workspace, firmware } = await workspaceWithApprovers(2);
  const release = await signedOnly(workspace, firmware);
  await approveRelease(workspace, release, 'alice', passphrases);
  await approveRelease(workspace, release, 'bob', passphrases);
  const rootKeys = await rootKeysOf(workspace, PASS);
  const carol = await addApprover(workspace, 'carol', PASS, passphrases, { rootKeys });
  const result = await checkReleaseInWorkspace(carol.workspace, release, 'stable');
  const signatures = result.failures.find((f) => f.rule === 'signatures');
  assert.match(signatures?.message ?? '', /delegation would be refused by devices.*older than 2/);
});
