// Filled in by the worker's count-words job (null until it has run). Nullable: the previous
// release keeps inserting notes without it.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('notes').addColumn('word_count', 'integer').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('notes').dropColumn('word_count').execute();
}
