import { writeFile } from 'node:fs/promises';
import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import { Redis } from 'ioredis';
import { withTimeout } from '../common/with-timeout.js';
import { InjectRedis } from '../redis/redis.module.js';
import { CountWordsProcessor } from './count-words.processor.js';
import { HEARTBEAT_FILE, HEARTBEAT_INTERVAL_MS } from './heartbeat.js';

/** Touches the heartbeat file dist/healthcheck.js reads, while the consumer runs and Redis answers. */
@Injectable()
export class HeartbeatService implements OnApplicationBootstrap {
  private readonly logger = new Logger(HeartbeatService.name);

  constructor(
    private readonly processor: CountWordsProcessor,
    @InjectRedis() private readonly redis: Redis,
  ) {}

  onApplicationBootstrap(): void {
    void this.beat();
  }

  @Interval(HEARTBEAT_INTERVAL_MS)
  async beat(): Promise<void> {
    try {
      const worker = this.processor.worker;
      // Not consuming (starting, paused or shutting down): no beat.
      if (!worker.isRunning() || worker.isPaused() || worker.closing) return;
      await withTimeout(this.redis.ping(), HEARTBEAT_INTERVAL_MS / 2, 'redis ping');
      await writeFile(HEARTBEAT_FILE, `${new Date().toISOString()}\n`);
    } catch (error) {
      this.logger.warn(`no heartbeat: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
