// One ioredis client per process (readiness, the rate limit), closed on shutdown.
import { Global, Inject, Logger, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Redis } from 'ioredis';
import { ENV, type SharedEnv } from '../config/env.js';

export const REDIS = Symbol('REDIS');
export const InjectRedis = (): PropertyDecorator & ParameterDecorator => Inject(REDIS);

export function createRedis(url: string, connectionName: string): Redis {
  const logger = new Logger('Redis');
  const redis = new Redis(url, {
    connectionName,
    // While Redis is down a command fails after one reconnect attempt instead of waiting for
    // it to come back: requests get a prompt error and readiness reports it.
    maxRetriesPerRequest: 1,
  });
  // ioredis emits an error on every failed reconnect: log the first, then the recovery.
  let healthy = true;
  redis.on('error', (error: Error) => {
    if (!healthy) return;
    healthy = false;
    logger.warn(`connection lost, reconnecting: ${error.message}`);
  });
  redis.on('ready', () => {
    if (healthy) return;
    healthy = true;
    logger.log('connection restored');
  });
  return redis;
}

@Global()
@Module({})
export class RedisModule implements OnApplicationShutdown {
  constructor(@InjectRedis() private readonly redis: Redis) {}

  static forRoot(options: { connectionName: string }): DynamicModule {
    return {
      module: RedisModule,
      providers: [
        {
          provide: REDIS,
          inject: [ConfigService],
          useFactory: (config: ConfigService<SharedEnv, true>) => createRedis(config.get(ENV.redisUrl, { infer: true }), options.connectionName),
        },
      ],
      exports: [REDIS],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
