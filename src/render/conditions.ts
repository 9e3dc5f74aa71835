// Which generated files exist for which answers. Templates only decide content;
// whether a whole file is written is decided here, by output path.
import type { StackModel } from '../stack/model.js';

interface FileRule {
  /** Output path, or a folder prefix ending in '/'. */
  path: string;
  when: (m: StackModel) => boolean;
}

const RULES: FileRule[] = [
  { path: 'apps/worker/', when: (m) => m.features.workers },
  { path: '.github/', when: (m) => m.features.githubCi },
  { path: 'scripts/backup-offsite.sh', when: (m) => m.features.offsiteBackup },
  { path: 'scripts/cloudflare-refresh-ips.sh', when: (m) => m.features.cloudflare },
  { path: 'nginx/cloudflare/', when: (m) => m.features.cloudflare },
  { path: 'postgres/init/10-vector.sql', when: (m) => m.features.pgvector },
];

export function isIncluded(path: string, m: StackModel): boolean {
  return RULES.every((rule) => {
    const matches = rule.path.endsWith('/') ? path.startsWith(rule.path) : path === rule.path;
    return !matches || rule.when(m);
  });
}
