// Small request helpers: an error that carries its status, and input checks that produce one.
export class HttpError extends Error {
  readonly status: number;

  constructor(status: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.status = status;
  }
}

/** The JSON body as an object, or a 400. */
export function bodyObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'expected a JSON object body');
  return body as Record<string, unknown>;
}

export function stringField(body: Record<string, unknown>, name: string, { max, optional = false }: { max: number; optional?: boolean }): string | undefined {
  const value = body[name];
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'string' || value.trim() === '') throw new HttpError(400, `${name} must be a non-empty string`);
  if (value.length > max) throw new HttpError(400, `${name} must be at most ${max} characters`);
  return value;
}

/** A positive integer id from a path parameter; anything else is a 404 (no such resource). */
export function idParam(raw: string | undefined): number {
  const id = Number(raw);
  if (!Number.isSafeInteger(id) || id < 1 || String(id) !== raw) throw new HttpError(404, 'not found');
  return id;
}
