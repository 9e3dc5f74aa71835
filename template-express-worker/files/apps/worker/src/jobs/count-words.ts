import { UnrecoverableError } from 'bullmq';
import type pg from 'pg';
import type { CountWordsData, CountWordsResult } from '../queue.ts';

/** Counts a note's words and stores the count on the note. Safe to retry: it only overwrites. */
export async function countWords(pool: pg.Pool, { noteId }: CountWordsData): Promise<CountWordsResult> {
  const { rows } = await pool.query<{ title: string; body: string }>('SELECT title, body FROM notes WHERE id = $1', [noteId]);
  const note = rows[0];
  // Deleted since it was enqueued: no retry can help, so fail for good.
  if (!note) throw new UnrecoverableError(`note ${noteId} not found`);
  const words = `${note.title} ${note.body}`.split(/\s+/).filter(Boolean).length;
  await pool.query('UPDATE notes SET word_count = $2 WHERE id = $1', [noteId, words]);
  return { noteId, words };
}
