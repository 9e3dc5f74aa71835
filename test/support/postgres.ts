// Where Debian's Postgres server is, for tests that start their own on a free port.
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Debian's newest Postgres server binaries (/usr/lib/postgresql/<major>/bin), if any. */
export function postgresBin(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base).filter((v) => existsSync(join(base, v, 'bin/initdb')) && existsSync(join(base, v, 'bin/postgres')));
  versions.sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(base, versions[0], 'bin') : undefined;
}

/** pgvector's files for that Postgres (.ci/install-pgvector.sh puts them there). */
export function pgvectorInstalled(bin = postgresBin()): boolean {
  if (!bin) return false;
  const major = basename(dirname(bin));
  return existsSync(`/usr/share/postgresql/${major}/extension/vector.control`) && existsSync(`/usr/lib/postgresql/${major}/lib/vector.so`);
}
