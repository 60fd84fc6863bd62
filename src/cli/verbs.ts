// The table of sihl's verbs: the words that select each one, its one-line summary for the overview, and
// how to load it. A verb's module (and all it imports) loads only when that verb runs, so a command starts
// in the time Node takes plus what it needs; test/cli/verbs.test.ts checks each summary against its command.
import type { Command } from './command.ts';

export interface Verb {
  readonly path: readonly string[];
  readonly summary: string;
  load(): Promise<Command>;
}

function verb<R>(path: readonly string[], summary: string, load: () => Promise<Command<R>>): Verb {
  return { path, summary, load: load as () => Promise<Command> };
}

export const verbs: readonly Verb[] = [
  verb(
    ['init'],
    'Make a workspace: sihl.json, root keys (kept outside it), online rollout, snapshot and timestamp keys, TUF root 1, a store.',
    async () => (await import('./commands/workspace.ts')).init,
  ),
  verb(
    ['keys', 'add'],
    'Give a release approver a key of their own (role targets).',
    async () => (await import('./commands/workspace.ts')).keysAdd,
  ),
  verb(
    ['keys', 'rotate'],
    'Replace a key with a new one: a new root version, and a new delegation for approver or root keys.',
    async () => (await import('./commands/workspace.ts')).keysRotate,
  ),
  verb(
    ['keys', 'remove'],
    'Remove a release approver: a new delegation version and a new root version without their key.',
    async () => (await import('./commands/workspace.ts')).keysRemove,
  ),
  verb(
    ['ceremony', 'show'],
    'Show what a ceremony file changes, the bytes root keys sign, who signed and what is missing.',
    async () => (await import('./commands/ceremony.ts')).ceremonyShow,
  ),
  verb(
    ['ceremony', 'sign'],
    "Add one root key's signatures to a ceremony file (no workspace needed).",
    async () => (await import('./commands/ceremony.ts')).ceremonySign,
  ),
  verb(
    ['ceremony', 'apply'],
    'Apply a ceremony signed by enough root keys in the workspace it was planned in.',
    async () => (await import('./commands/ceremony.ts')).ceremonyApply,
  ),
  verb(
    ['keys', 'list'],
    "List the workspace's keys by role, with thresholds and key ids.",
    async () => (await import('./commands/workspace.ts')).keysList,
  ),
  verb(
    ['device', 'provision'],
    'Register a device from the public identity its secure element produced, with its model and owner.',
    async () => (await import('./commands/device.ts')).deviceProvision,
  ),
  verb(
    ['device', 'list'],
    'List registered devices.',
    async () => (await import('./commands/device.ts')).deviceList,
  ),
  verb(
    ['device', 'revoke'],
    'Revoke a device: no envelope, no log credential, no count in any figure, and a signed revocation.',
    async () => (await import('./commands/device.ts')).deviceRevoke,
  ),
  verb(
    ['release', 'create'],
    'Pack firmware into a new release: compressed, encrypted, carrying the current delegation.',
    async () => (await import('./commands/release.ts')).releaseCreate,
  ),
  verb(
    ['release', 'request'],
    'Write the approval request that each approver signs where they are, with their own key.',
    async () => (await import('./commands/release-approvals.ts')).releaseRequest,
  ),
  verb(
    ['release', 'approve'],
    "Sign off a release with one approver's own key, where the approver is.",
    async () => (await import('./commands/release-approve.ts')).releaseApprove,
  ),
  verb(
    ['release', 'add-approval'],
    "Add approvers' approval files to a release: each checked, its signature added to the image.",
    async () => (await import('./commands/release-approvals.ts')).releaseAddApproval,
  ),
  verb(
    ['release', 'show'],
    'Show a release: what it is, the approval requests made, and who approved it, when and why.',
    async () => (await import('./commands/release-approvals.ts')).releaseShow,
  ),
  verb(
    ['release', 'check'],
    'The policy gate: every rule a release must pass before it is published, all failures at once.',
    async () => (await import('./commands/release.ts')).releaseCheck,
  ),
  verb(
    ['release', 'publish'],
    'Run the gate, then publish: the image, one key envelope per eligible device, TUF metadata.',
    async () => (await import('./commands/release.ts')).releasePublish,
  ),
  verb(
    ['timestamp', 'refresh'],
    'Re-sign the timestamp metadata (it expires in a day) with the online timestamp key.',
    async () => (await import('./commands/release.ts')).timestampRefresh,
  ),
  verb(
    ['keys', 'generate'],
    'Make a new key: a signing key (root or approver) or a device key (separate signing and encryption pairs).',
    async () => (await import('./commands/keys.ts')).keysGenerate,
  ),
  verb(
    ['root', 'create'],
    'Write the root trust file that devices pin: root public keys and how many must sign.',
    async () => (await import('./commands/trust.ts')).rootCreate,
  ),
  verb(
    ['delegation', 'create'],
    'Sign, with root keys, the list of approver keys and their threshold that images carry.',
    async () => (await import('./commands/trust.ts')).delegationCreate,
  ),
  verb(
    ['image', 'pack'],
    'Compress, encrypt and (optionally) sign firmware into a sealed image.',
    async () => (await import('./commands/image.ts')).imagePack,
  ),
  verb(
    ['image', 'sign'],
    "Add an approver's signature to an image (each approver runs this with their own key).",
    async () => (await import('./commands/image.ts')).imageSign,
  ),
  verb(
    ['image', 'inspect'],
    'Show what an image says about itself, without checking any signature.',
    async () => (await import('./commands/image.ts')).imageInspect,
  ),
  verb(
    ['image', 'verify'],
    'Check an image as a bootloader would: delegation by root, approver threshold, payload digest.',
    async () => (await import('./commands/image.ts')).imageVerify,
  ),
  verb(
    ['image', 'unpack'],
    'Verify an image, open its key envelope with a device key, and write the firmware.',
    async () => (await import('./commands/image.ts')).imageUnpack,
  ),
  verb(
    ['envelope', 'seal'],
    "Seal an encrypted image's content key to one device's public key.",
    async () => (await import('./commands/image.ts')).envelopeSeal,
  ),
  verb(
    ['sim', 'device', 'create'],
    'Make a simulated device in a folder: its flash runs FIRMWARE; it makes its keys inside.',
    async () => (await import('./commands/sim.ts')).simDeviceCreate,
  ),
  verb(
    ['sim', 'device', 'identity'],
    "Read a device's public keys as the factory would, optionally into a device .pub file.",
    async () => (await import('./commands/sim.ts')).simDeviceIdentity,
  ),
  verb(
    ['sim', 'device', 'stage'],
    "Put an image (and its key envelope) into a device's staging slot and mark it pending.",
    async () => (await import('./commands/sim.ts')).simDeviceStage,
  ),
  verb(
    ['sim', 'device', 'boot'],
    'Power a device on once: the bootloader installs or rejects a pending image, then it runs.',
    async () => (await import('./commands/sim.ts')).simDeviceBoot,
  ),
  verb(
    ['sim', 'device', 'inspect'],
    "Show a device's flash layout, boot state, secure element counters, identity and wear.",
    async () => (await import('./commands/sim.ts')).simDeviceInspect,
  ),
  verb(
    ['sim', 'device', 'configure'],
    "Give a device's update agent its server, pinned certificate, registry index and first root.",
    async () => (await import('./commands/sim-run.ts')).simDeviceConfigure,
  ),
  verb(
    ['sim', 'device', 'run'],
    'Run a device: boot it, then poll its server, download, stage, reboot and report, until stopped.',
    async () => (await import('./commands/sim-run.ts')).simDeviceRun,
  ),
  verb(
    ['sim', 'fleet'],
    'Simulate a fleet in one process: provision N devices, or run them until all are updated.',
    async () => (await import('./commands/sim-fleet.ts')).simFleet,
  ),
  verb(
    ['serve'],
    'Serve the store to devices over HTTPS and accept their signed status reports.',
    async () => (await import('./commands/serve.ts')).serve,
  ),
  verb(
    ['online', 'create'],
    'Make the online folder that `sihl serve` and scheduled jobs run from: online keys only.',
    async () => (await import('./commands/online.ts')).onlineCreate,
  ),
  verb(
    ['nginx-config'],
    'Write an nginx configuration that serves the store and passes reports and the console to sihl.',
    async () => (await import('./commands/nginx-config.ts')).nginxConfigCommand,
  ),
  verb(
    ['fleet', 'status'],
    'Show what each device last reported, and how many devices run each published release.',
    async () => (await import('./commands/fleet.ts')).fleetStatus,
  ),
  verb(
    ['rollout', 'status'],
    "Show a release's rollout: stage, what devices reported, why it halted.",
    async () => (await import('./commands/rollout.ts')).rolloutStatus,
  ),
  verb(
    ['rollout', 'advance'],
    'Widen a rollout to its next stage: envelopes for the new devices, then new signed metadata.',
    async () => (await import('./commands/rollout.ts')).rolloutAdvance,
  ),
  verb(
    ['rollout', 'halt'],
    'Stop a rollout: new devices no longer get the release; devices running it keep it.',
    async () => (await import('./commands/rollout.ts')).rolloutHalt,
  ),
  verb(
    ['rollout', 'resume'],
    'Offer a halted release again at the stage it stopped at.',
    async () => (await import('./commands/rollout.ts')).rolloutResume,
  ),
  verb(
    ['rollout', 'check'],
    'One automatic step: halt if failures reached the threshold, advance if the schedule says so.',
    async () => (await import('./commands/rollout.ts')).rolloutCheck,
  ),
];

/** The verb that the leading words of `words` select, if any. */
export function findVerb(words: readonly string[]): Verb | undefined {
  return verbs.find((v) => v.path.every((p, i) => words[i] === p));
}
