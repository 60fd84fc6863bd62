// The test world, after changesets' FakeFullState: `world()` is the default (Pybricks 7.27.0 as old.bin and
// 7.28.0 as new.bin, workspace `acme` with approvers alice and bob), and mutators named for intent add
// devices, revocations and releases. Each distinct world is built once per test file into a template folder
// (test/support/template.ts) and copied per test, so tests stay independent and pay the build once.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { approveBy, ok, provisionSimDevice, type RootCustody, releaseCreate, startWorkspace } from './cli.ts';
import { fromTemplate } from './template.ts';

export const WS = ['--workspace', 'acme'] as const;

/** Firmware files of the default world, by the version they hold. */
const FIRMWARE_FILE: Readonly<Record<string, string>> = { '7.27.0': 'old.bin', '7.28.0': 'new.bin' };

export interface WorldDevice {
  readonly dir: string;
  readonly idx: number;
  readonly id: string;
}

export interface World {
  readonly cwd: string;
  /** The workspace's store folder. */
  readonly store: string;
  /** Simulated devices in the order they were added (folders absolute). */
  readonly devices: WorldDevice[];
  /** Published targets by version, e.g. '7.28.0' → 'movehub/movehub-7.28.0.sihl'. */
  readonly targets: Readonly<Record<string, string>>;
}

type Step =
  | { readonly kind: 'devices'; readonly version: string; readonly count: number }
  | { readonly kind: 'revoke'; readonly device: number }
  | { readonly kind: 'release'; readonly version: string; readonly rollout?: number }
  | { readonly kind: 'approve'; readonly version: string };

interface Plan {
  readonly approvers: readonly string[];
  readonly approvals?: number;
  /** Approvers keep their keys in folders of their own (NAME-home/); the workspace has only NAME.pub. */
  readonly away?: boolean;
  /** Root keys held by custodians (custodian-N/root-N.key) instead of one in offline/. */
  readonly custody?: RootCustody;
  readonly steps: readonly Step[];
}

/** A world to be built; each mutator returns a new plan. */
export class WorldPlan {
  readonly #plan: Plan;

  constructor(plan: Plan) {
    this.#plan = plan;
  }

  /** The workspace's approvers instead of alice and bob (and how many a release needs, default all). */
  withApprovers(names: readonly string[], approvals?: number): WorldPlan {
    return new WorldPlan({ ...this.#plan, approvers: names, ...(approvals ? { approvals } : {}) });
  }

  /**
   * Each approver makes their key in a folder of their own (NAME-home/, outside the workspace) under
   * their own passphrase (approverEnv); the workspace holds only keys/NAME.pub. Such a world's releases
   * are approved with `release request` and `release approve --request`, not withReleasePublished.
   */
  withApproversAway(): WorldPlan {
    return new WorldPlan({ ...this.#plan, away: true });
  }

  /** `keys` root keys, `threshold` of which must sign, each in its custodian's folder (custodian-N/). */
  withRootKeys(keys: number, threshold: number): WorldPlan {
    return new WorldPlan({ ...this.#plan, custody: { keys, threshold } });
  }

  /** `count` simulated movehubs running `version` (7.27.0 or 7.28.0), provisioned as hub-N. */
  withDevicesRunning(version: string, count: number): WorldPlan {
    if (FIRMWARE_FILE[version] === undefined) throw new Error(`no firmware for ${version} in the world`);
    return this.#then({ kind: 'devices', version, count });
  }

  /** Revokes the device added `n`-th (from 0; default: the last one added so far). */
  withRevokedDevice(n?: number): WorldPlan {
    const count = this.#plan.steps.reduce((sum, s) => sum + (s.kind === 'devices' ? s.count : 0), 0);
    return this.#then({ kind: 'revoke', device: n ?? count - 1 });
  }

  /** A movehub release of new.bin as `version`, approved by every approver and published (signed only: unencrypted). */
  withReleasePublished(
    version: string,
    options: { readonly rollout?: number; readonly signedOnly?: boolean } = {},
  ): WorldPlan {
    return this.#then({ kind: 'release', version, ...options });
  }

  /** A movehub release of new.bin as `version`, approved by every approver, not published. */
  withReleaseApproved(version: string): WorldPlan {
    return this.#then({ kind: 'approve', version });
  }

  /** A fresh copy of this world in a test's temporary folder. */
  async build(): Promise<World> {
    const plan = this.#plan;
    const cwd = await fromTemplate(`world ${JSON.stringify(plan)}`, (dir) => buildWorld(dir, plan));
    const manifest = JSON.parse(await readFile(join(cwd, 'world.json'), 'utf8')) as Omit<
      World,
      'cwd' | 'store'
    >;
    return {
      cwd,
      store: join(cwd, 'acme', 'store'),
      devices: manifest.devices.map((d) => ({ ...d, dir: join(cwd, d.dir) })),
      targets: manifest.targets,
    };
  }

  #then(step: Step): WorldPlan {
    return new WorldPlan({ ...this.#plan, steps: [...this.#plan.steps, step] });
  }
}

/** The default world: workspace `acme` with approvers alice and bob, no devices, no release. */
export function world(): WorldPlan {
  return new WorldPlan({ approvers: ['alice', 'bob'], steps: [] });
}

/**
 * Creates release `version` of new.bin for movehub in `cwd`'s workspace, has `approvers` approve it and
 * publishes it (at `rollout` percent when given). Returns the published target.
 */
export async function shipRelease(
  cwd: string,
  version: string,
  options: {
    readonly approvers?: readonly string[];
    readonly rollout?: number;
    readonly signedOnly?: boolean;
  } = {},
): Promise<string> {
  const release = await approveRelease(
    cwd,
    version,
    options.approvers ?? ['alice', 'bob'],
    options.signedOnly,
  );
  const rollout = options.rollout === undefined ? [] : ['--rollout', String(options.rollout)];
  return JSON.parse(await ok(cwd, ['release', 'publish', release, ...rollout, '--json', ...WS])).target;
}

/** Creates release `version` of new.bin for movehub and has `approvers` approve it; returns its name. */
async function approveRelease(
  cwd: string,
  version: string,
  approvers: readonly string[],
  signedOnly = false,
): Promise<string> {
  const release = `movehub-${version}`;
  const plain = signedOnly ? ['--no-encrypt'] : [];
  await ok(cwd, [...releaseCreate('new.bin', 'movehub', version, '1'), ...plain, ...WS]);
  await approveBy((args) => ok(cwd, args), release, approvers, WS);
  return release;
}

/** Builds `plan` in `cwd`, with world.json naming its devices (folders relative to `cwd`) and targets. */
async function buildWorld(cwd: string, plan: Plan): Promise<void> {
  await startWorkspace(cwd, plan.approvers, plan.approvals, plan.away === true, plan.custody);
  const devices: WorldDevice[] = [];
  const targets: Record<string, string> = {};
  for (const step of plan.steps) {
    if (step.kind === 'devices') {
      const file = FIRMWARE_FILE[step.version] as string;
      for (let n = 0; n < step.count; n++)
        devices.push(await provisionSimDevice(cwd, `hub-${devices.length + 1}`, 'ACME', file, step.version));
    } else if (step.kind === 'revoke') {
      await ok(cwd, ['device', 'revoke', (devices[step.device] as WorldDevice).id, ...WS]);
    } else if (step.kind === 'approve') {
      await approveRelease(cwd, step.version, plan.approvers);
    } else {
      targets[step.version] = await shipRelease(cwd, step.version, { ...step, approvers: plan.approvers });
    }
  }
  await writeFile(join(cwd, 'world.json'), JSON.stringify({ devices, targets }));
}
