// vector(3) keeps the example readable; embedding models use 384-3072 dimensions. Change it
// together with the column in database/migrations/0003_create-items.ts.
import { z } from 'zod';

export const DIMENSIONS = 3;
export const MAX_RESULTS = 50;

const embedding = z.array(z.number().finite()).length(DIMENSIONS, `must be an array of ${DIMENSIONS} numbers`);

export const createItemSchema = z.strictObject({
  label: z.string().trim().min(1).max(200),
  embedding,
});
export type CreateItem = z.output<typeof createItemSchema>;

export const similarSchema = z.strictObject({
  embedding,
  limit: z.number().int().min(1).max(MAX_RESULTS).default(5),
});
export type Similar = z.output<typeof similarSchema>;
