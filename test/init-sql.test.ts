// The generated Postgres init SQL and express-worker migrations, run in-process on PGlite with
// pgvector: the extension loads, the schema builds, and a nearest-neighbour query orders right.
// (The native boot test runs the same files on a real Postgres 15 + pgvector.)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { runner } from 'node-pg-migrate';
import { afterAll, describe, expect, it } from 'vitest';
import pkg from '../package.json' with { type: 'json' };
import { NPM_VERSIONS } from '../src/versions.js';
import { writeStack, type RenderedStack } from './support/stack.js';

const stacks: RenderedStack[] = [];
afterAll(() => stacks.forEach((s) => s.cleanup()));

const initFiles = (stack: RenderedStack) => stack.plan.files.filter((f) => f.path.startsWith('postgres/init/') && f.path.endsWith('.sql'));

describe.each(['express-worker', 'nest-next', 'fastapi-oracle'] as const)('%s init SQL', (template) => {
  it('creates pgvector on PGlite; pg_stat_statements is preloaded for the real server', async () => {
    const stack = writeStack({ template, pgvector: true });
    stacks.push(stack);
    const files = initFiles(stack);
    expect(files.map((f) => f.path)).toEqual(['postgres/init/00-extensions.sql', 'postgres/init/10-vector.sql']);
    // PGlite has no pg_stat_statements (a server-side preload library): check that file's only
    // statement is that extension, and that compose preloads the library.
    const statements = (sql: string) => sql.split('\n').filter((l) => !l.startsWith('--')).join('\n').split(';').map((s) => s.trim()).filter(Boolean);
    expect(statements(files[0].content.toString())).toEqual(['CREATE EXTENSION IF NOT EXISTS pg_stat_statements']);
    expect(readFileSync(join(stack.dir, 'compose.yaml'), 'utf8')).toContain('shared_preload_libraries=pg_stat_statements');

    const db = await PGlite.create({ extensions: { vector } });
    try {
      await db.exec(files[1].content.toString());
      await db.exec("CREATE TABLE probe (id int, e vector(3)); INSERT INTO probe VALUES (1, '[0,0,0]'), (2, '[5,5,5]'), (3, '[1,1,2]')");
      const { rows } = await db.query<{ id: number }>("SELECT id FROM probe ORDER BY e <-> '[1,1,1]' LIMIT 2");
      expect(rows.map((r) => r.id)).toEqual([3, 1]);
    } finally {
      await db.close();
    }
  });

  it('has no vector SQL without pgvector', () => {
    const stack = writeStack({ template, pgvector: false });
    stacks.push(stack);
    expect(initFiles(stack).map((f) => f.path)).toEqual(['postgres/init/00-extensions.sql']);
  });
});

describe('express-worker migrations on PGlite + pgvector', () => {
  it('uses the node-pg-migrate the generated api pins', () => {
    expect(pkg.devDependencies['node-pg-migrate']).toBe(NPM_VERSIONS.nodePgMigrate);
  });

  it.each([
    ['everything on', { workers: true, pgvector: true }, ['create-notes', 'add-note-word-count', 'create-items']],
    ['no workers, no pgvector', { workers: false, redis: false, pgvector: false }, ['create-notes']],
  ] as const)('%s: init SQL then every migration, then a nearest-neighbour query', async (_name, overrides, expected) => {
    const stack = writeStack({ template: 'express-worker', ...overrides });
    stacks.push(stack);
    const db = await PGlite.create({ extensions: { vector } });
    try {
      for (const file of initFiles(stack).filter((f) => f.path.endsWith('10-vector.sql'))) await db.exec(file.content.toString());
      // node-pg-migrate only needs a client with query(); PGlite's fits.
      const dbClient = { query: (q: string | { text: string; values?: unknown[] }, values?: unknown[]) => (typeof q === 'string' ? db.query(q, values) : db.query(q.text, q.values)) };
      const ran = await runner({
        dbClient: dbClient as never, dir: join(stack.dir, 'apps/api/migrations'), migrationsTable: 'pgmigrations',
        direction: 'up', checkOrder: false, noLock: true, log: () => {},
      });
      expect(ran.map((m) => m.name.replace(/^\d+_/, ''))).toEqual(expected);
      if (overrides.pgvector) {
        await db.exec("INSERT INTO items (label, embedding) VALUES ('far', '[9,9,9]'), ('near', '[1,1,1]'), ('mid', '[3,3,3]')");
        const { rows } = await db.query<{ label: string }>("SELECT label FROM items ORDER BY embedding <-> '[1,1,0]' LIMIT 2");
        expect(rows.map((r) => r.label)).toEqual(['near', 'mid']);
        const index = await db.query<{ indexdef: string }>("SELECT indexdef FROM pg_indexes WHERE tablename = 'items' AND indexdef LIKE '%hnsw%'");
        expect(index.rows).toHaveLength(1);
      } else {
        const tables = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'items'");
        expect(tables.rows[0].n).toBe(0);
      }
    } finally {
      await db.close();
    }
  });
});
