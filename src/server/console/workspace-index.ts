// The report index of a workspace (console.db beside logs.db), brought up to date with the registry and
// the log store, for one-shot readers such as `sihl rollout status`.
import { join } from 'node:path';
import { logStorePath } from '../../publisher/fleet.ts';
import { openRegistry } from '../../publisher/registry.ts';
import type { Workspace } from '../../publisher/workspace.ts';
import { openSqliteLogStore } from '../../storage/sqlite-log-store.ts';
import { INDEX_FILE, openReportIndex, type ReportIndex } from './report-index.ts';

export function indexPath(workspace: Workspace): string {
  return join(workspace.dir, INDEX_FILE);
}

export async function withWorkspaceIndex<T>(
  workspace: Workspace,
  work: (index: ReportIndex) => T | Promise<T>,
): Promise<T> {
  const registry = openRegistry(workspace.registryPath);
  const index = openReportIndex(indexPath(workspace), registry);
  const logs = openSqliteLogStore(logStorePath(workspace));
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
