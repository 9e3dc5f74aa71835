// Filled in by the worker's count-words job (null until it has run).
/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
export const up = (pgm) => {
  pgm.addColumn('notes', { word_count: { type: 'integer' } });
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
export const down = (pgm) => {
  pgm.dropColumn('notes', 'word_count');
};
