import { Body, Controller, Get, HttpCode, Post } from '@nestjs/common';
import { createItemSchema, similarSchema, type CreateItem, type Similar } from './items.schema.js';
import { ItemsService } from './items.service.js';

@Controller('items')
export class ItemsController {
  constructor(private readonly items: ItemsService) {}

  @Get()
  async list() {
    return { items: await this.items.list() };
  }

  @Post()
  create(@Body({ schema: createItemSchema }) input: CreateItem) {
    return this.items.create(input);
  }

  /** POST {"embedding": [0.1, 0.2, 0.3], "limit": 5}: the nearest items by Euclidean distance. */
  @Post('similar')
  @HttpCode(200)
  async similar(@Body({ schema: similarSchema }) input: Similar) {
    return { items: await this.items.similar(input) };
  }
}
