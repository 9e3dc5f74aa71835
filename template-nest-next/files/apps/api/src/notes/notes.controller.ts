// A small Postgres-backed resource under /api/notes: the pattern to copy for real ones.
import { Body, Controller, Delete, Get, HttpCode, NotFoundException, Param, ParseIntPipe, Post } from '@nestjs/common';
import { createNoteSchema, type CreateNote } from './notes.schema.js';
import { NotesService } from './notes.service.js';

@Controller('notes')
export class NotesController {
  constructor(private readonly notes: NotesService) {}

  @Get()
  async list() {
    return { notes: await this.notes.list() };
  }

  @Post()
  create(@Body({ schema: createNoteSchema }) input: CreateNote) {
    return this.notes.create(input);
  }

  @Get(':id')
  async get(@Param('id', ParseIntPipe) id: number) {
    const note = await this.notes.get(id);
    if (!note) throw new NotFoundException();
    return note;
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(@Param('id', ParseIntPipe) id: number): Promise<void> {
    if (!(await this.notes.remove(id))) throw new NotFoundException();
  }
}
