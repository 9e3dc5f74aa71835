// Enqueue work for the worker service and report on it. Job state lives in Redis (BullMQ).
import { Router } from 'express';
import type { Pool } from '../db.ts';
import { bodyObject, HttpError } from '../http.ts';
import { JOB_NAMES, JOB_OPTIONS, type JobQueue } from '../queue.ts';
import { withTimeout } from '../timeout.ts';

// BullMQ waits for Redis while it is down; answer 503 instead of holding the request.
// (An add that times out may still land once Redis is back: the job is safe to run twice.)
const QUEUE_TIMEOUT_MS = 2_000;

async function queueCall<T>(call: Promise<T>): Promise<T> {
  try {
    return await withTimeout(call, QUEUE_TIMEOUT_MS, 'job queue');
  } catch (error) {
    throw new HttpError(503, 'job queue unavailable, try again later', { cause: error });
  }
}

export function jobsRouter(pool: Pool, queue: JobQueue): Router {
  const router = Router();

  // POST {"noteId": 1}: the worker counts the note's words and stores the count on the note.
  router.post('/', async (req, res) => {
    const { noteId } = bodyObject(req.body);
    if (typeof noteId !== 'number' || !Number.isSafeInteger(noteId) || noteId < 1) throw new HttpError(400, 'noteId must be a positive integer');
    const { rowCount } = await pool.query('SELECT 1 FROM notes WHERE id = $1', [noteId]);
    if (rowCount === 0) throw new HttpError(404, 'note not found');
    const job = await queueCall(queue.add(JOB_NAMES.countWords, { noteId }, JOB_OPTIONS));
    res.status(202).location(`${req.baseUrl}/${job.id}`).json({ id: job.id, state: 'waiting' });
  });

  router.get('/:id', async (req, res) => {
    // BullMQ's generated ids are integers; anything else cannot be one of ours.
    if (!/^\d{1,20}$/.test(req.params.id)) throw new HttpError(404, 'not found');
    // State first, then the job: a job read before the state could finish in between and be
    // reported "completed" without its result. States only move forward, so this order is safe.
    const state = await queueCall(queue.getJobState(req.params.id));
    const job = state === 'unknown' ? undefined : await queueCall(queue.getJob(req.params.id));
    if (!job) throw new HttpError(404, 'not found');
    res.json({
      id: job.id,
      name: job.name,
      state,
      attemptsMade: job.attemptsMade,
      result: job.returnvalue ?? null,
      failedReason: job.failedReason ?? null,
      createdAt: new Date(job.timestamp).toISOString(),
      finishedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
    });
  });

  return router;
}
