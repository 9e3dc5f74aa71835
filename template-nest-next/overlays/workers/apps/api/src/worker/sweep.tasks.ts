// Cron jobs (@nestjs/schedule). They live in the worker only: the worker runs one container,
// while the API may run several replicas and every replica would run each cron. Scaling the
// worker out would duplicate them too; move a cron to a BullMQ job scheduler then.
import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import { Cron, CronExpression } from '@nestjs/schedule';
import { sql } from 'kysely';
import { InjectDb, type Db } from '../database/database.module.js';
import { JOB_NAMES, QUEUE_NAME, type JobQueue } from '../queue/queue.constants.js';

const BATCH = 500;

@Injectable()
export class SweepTasks {
  private readonly logger = new Logger(SweepTasks.name);

  constructor(
    @InjectDb() private readonly db: Db,
    @InjectQueue(QUEUE_NAME) private readonly queue: JobQueue,
  ) {}

  /**
   * Notes saved while Redis was unreachable were never enqueued: enqueue every note still without
   * a word count. The job id is per note, so a note already waiting is not enqueued twice.
   */
  @Cron(CronExpression.EVERY_10_MINUTES, { name: 'enqueue-uncounted-notes', waitForCompletion: true })
  async enqueueUncountedNotes(): Promise<void> {
    const notes = await this.db
      .selectFrom('notes')
      .select('id')
      .where('word_count', 'is', null)
      .where('created_at', '<', sql<Date>`now() - interval '1 minute'`)
      .orderBy('id')
      .limit(BATCH)
      .execute();
    if (notes.length === 0) return;
    await this.queue.addBulk(
      notes.map(({ id }) => ({ name: JOB_NAMES.countWords, data: { noteId: id }, opts: { jobId: `${JOB_NAMES.countWords}-${id}` } })),
    );
    this.logger.log({ msg: 'enqueued uncounted notes', count: notes.length });
  }
}
