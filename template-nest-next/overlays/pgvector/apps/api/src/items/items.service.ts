// Vector similarity with pgvector through Kysely: vectors travel as '[x,y,z]' text and are cast
// with ::vector; <-> is Euclidean distance, answered from the HNSW index.
import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { InjectDb, type Db } from '../database/database.module.js';
import { MAX_RESULTS, type CreateItem, type Similar } from './items.schema.js';

const toVector = (values: number[]): string => `[${values.join(',')}]`;
const fromVector = (text: string): number[] => JSON.parse(text) as number[];

@Injectable()
export class ItemsService {
  constructor(@InjectDb() private readonly db: Db) {}

  async list() {
    const rows = await this.db
      .selectFrom('items')
      .select(['id', 'label', sql<string>`embedding::text`.as('embedding')])
      .orderBy('id', 'desc')
      .limit(MAX_RESULTS)
      .execute();
    return rows.map((row) => ({ ...row, embedding: fromVector(row.embedding) }));
  }

  async create({ label, embedding }: CreateItem) {
    const row = await this.db
      .insertInto('items')
      .values({ label, embedding: sql<string>`${toVector(embedding)}::vector` })
      .returning(['id', 'label'])
      .executeTakeFirstOrThrow();
    return { ...row, embedding };
  }

  /** The `limit` items nearest to `embedding`, closest first. */
  similar({ embedding, limit }: Similar) {
    const distance = sql<number>`embedding <-> ${toVector(embedding)}::vector`;
    return this.db
      .selectFrom('items')
      .select(['id', 'label', distance.as('distance')])
      .orderBy(distance)
      .limit(limit)
      .execute();
  }
}
