// BullMQ on the stack's Redis: the API produces (NotesService), the worker consumes
// (worker/count-words.processor.ts). Both import this module.
import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ENV, type SharedEnv } from '../config/env.js';
import { JOB_OPTIONS, QUEUE_NAME } from './queue.constants.js';

@Module({
  imports: [
    BullModule.forRootAsync({
      inject: [ConfigService],
      useFactory: (config: ConfigService<SharedEnv, true>) => ({ connection: { url: config.get(ENV.redisUrl, { infer: true }) } }),
    }),
    BullModule.registerQueue({ name: QUEUE_NAME, defaultJobOptions: JOB_OPTIONS }),
  ],
  exports: [BullModule],
})
export class QueueModule {}
