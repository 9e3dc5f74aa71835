// Vector similarity with pgvector: items carry an embedding, /api/similar returns the nearest.
// Plain SQL through pg: vectors travel as '[x,y,z]' text and are cast with ::vector.
import { Router } from 'express';
import type { Pool } from '../db.ts';
import { bodyObject, HttpError, stringField } from '../http.ts';

// vector(3) keeps the example readable; embedding models use 384–3072 dimensions. Change it
// together with the column in migrations/1767225602000_create-items.js.
export const DIMENSIONS = 3;
const MAX_RESULTS = 50;

/** A JSON array of DIMENSIONS finite numbers, as pgvector's text form. */
function vectorField(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  if (!Array.isArray(value) || value.length !== DIMENSIONS || !value.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw new HttpError(400, `${name} must be an array of ${DIMENSIONS} numbers`);
  }
  return `[${value.join(',')}]`;
}

export function itemsRouter(pool: Pool): Router {
  const router = Router();

  router.get('/', async (_req, res) => {
    const { rows } = await pool.query('SELECT id, label, embedding::text AS embedding FROM items ORDER BY id DESC LIMIT $1', [MAX_RESULTS]);
    res.json({ items: rows.map((row) => ({ ...row, embedding: JSON.parse(row.embedding) })) });
  });

  router.post('/', async (req, res) => {
    const body = bodyObject(req.body);
    const label = stringField(body, 'label', { max: 200 });
    const embedding = vectorField(body, 'embedding');
    const { rows } = await pool.query('INSERT INTO items (label, embedding) VALUES ($1, $2::vector) RETURNING id, label', [label, embedding]);
    res.status(201).json({ ...rows[0], embedding: JSON.parse(embedding) });
  });

  return router;
}

export function similarRouter(pool: Pool): Router {
  const router = Router();

  // POST {"embedding": [0.1, 0.2, 0.3], "limit": 5}: nearest items by Euclidean distance (<->),
  // answered from the HNSW index.
  router.post('/', async (req, res) => {
    const body = bodyObject(req.body);
    const embedding = vectorField(body, 'embedding');
    const limit = body.limit ?? 5;
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_RESULTS) {
      throw new HttpError(400, `limit must be an integer from 1 to ${MAX_RESULTS}`);
    }
    const { rows } = await pool.query(
      'SELECT id, label, embedding <-> $1::vector AS distance FROM items ORDER BY embedding <-> $1::vector LIMIT $2',
      [embedding, limit],
    );
    res.json({ items: rows });
  });

  return router;
}
