// pgvector: items with a small embedding and an HNSW index for nearest-neighbour search.
// The extension is also created by postgres/init on a fresh volume; here it covers existing ones.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE EXTENSION IF NOT EXISTS vector`.execute(db);
  await db.schema
    .createTable('items')
    .addColumn('id', 'integer', (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('label', 'text', (col) => col.notNull())
    // Keep in step with DIMENSIONS in src/items/items.schema.ts.
    .addColumn('embedding', sql`vector(3)`, (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  // vector_l2_ops matches the <-> (Euclidean) operator the API orders by.
  await sql`CREATE INDEX items_embedding_hnsw ON items USING hnsw (embedding vector_l2_ops)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('items').execute();
}
