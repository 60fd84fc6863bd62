// The report index of a workspace (console.db beside logs.db), brought up to date with the registry and
// the workspace's log store (sihl.json "log", else logs.db), for one-shot readers such as `sihl rollout check`.
import { join } from 'node:path';
import { openWorkspaceLogStore } from '../../publisher/fleet.ts';
import { openRegistry } from '../../publisher/registry.ts';
import type { Workspace } from '../../publisher/workspace.ts';
import type { Env } from '../../storage/locations.ts';
import { INDEX_FILE, openReportIndex, type ReportIndex } from './report-index.ts';

export function indexPath(workspace: Workspace): string {
  return join(workspace.dir, INDEX_FILE);
}

export async function withWorkspaceIndex<T>(
  workspace: Workspace,
  env: Env,
  work: (index: ReportIndex) => T | Promise<T>,
): Promise<T> {
  const logs = await openWorkspaceLogStore(workspace, env);
  const registry = openRegistry(workspace.registryPath);
  const index = openReportIndex(indexPath(workspace), registry);
  try {
    index.syncRegistry();
    await index.catchUp(logs);
    return await work(index);
  } finally {
    await logs.close();
    index.close();
    registry.close();
  }
}
