// Initial schema. Migrations run as a one-off step (npm run migrate) before a deploy, never on
// app start, and must keep working with the previous release's code so a rollback is safe.
/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
export const up = (pgm) => {
  pgm.createTable('notes', {
    id: { type: 'integer', primaryKey: true, sequenceGenerated: { precedence: 'ALWAYS' } },
    title: { type: 'text', notNull: true },
    body: { type: 'text', notNull: true, default: '' },
    created_at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
  });
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
export const down = (pgm) => {
  pgm.dropTable('notes');
};
