// pgvector: items with a small embedding and an HNSW index for nearest-neighbour search.
// The extension is also created by postgres/init on a fresh volume; here it covers existing ones.
/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
export const up = (pgm) => {
  pgm.createExtension('vector', { ifNotExists: true });
  pgm.createTable('items', {
    id: { type: 'integer', primaryKey: true, sequenceGenerated: { precedence: 'ALWAYS' } },
    label: { type: 'text', notNull: true },
    // Keep in step with DIMENSIONS in src/routes/items.ts.
    embedding: { type: 'vector(3)', notNull: true },
    created_at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
  });
  // vector_l2_ops matches the <-> (Euclidean) operator the API orders by.
  pgm.sql('CREATE INDEX items_embedding_hnsw ON items USING hnsw (embedding vector_l2_ops)');
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
export const down = (pgm) => {
  pgm.dropTable('items');
};
