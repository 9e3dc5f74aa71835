// Request bodies, checked by the global StandardSchemaValidationPipe (app.module.ts).
import { z } from 'zod';

export const createNoteSchema = z.strictObject({
  title: z.string().trim().min(1).max(200),
  body: z.string().max(10_000).default(''),
});
export type CreateNote = z.output<typeof createNoteSchema>;
