// Unified diffs for the terminal, coloured only when colour is on (kolorist obeys ui.ts).
import { createTwoFilesPatch } from 'diff';
import { style } from '../cli/ui.js';

const isBinary = (content: Buffer | undefined) => content !== undefined && content.includes(0);

/** A unified diff from `before` (undefined: absent) to `after`, with a/ and b/ headers. */
export function unifiedDiff(path: string, before: Buffer | undefined, after: Buffer | undefined): string {
  if (isBinary(before) || isBinary(after)) return `Binary files a/${path} and b/${path} differ\n`;
  const patch = createTwoFilesPatch(
    before === undefined ? '/dev/null' : `a/${path}`,
    after === undefined ? '/dev/null' : `b/${path}`,
    before?.toString('utf8') ?? '',
    after?.toString('utf8') ?? '',
    undefined,
    undefined,
    { context: 3 },
  );
  // jsdiff starts with an "Index:"-less "===" separator line; drop it for a git-like look.
  return patch
    .split('\n')
    .filter((line) => !/^={10,}$/.test(line))
    .map((line) => {
      if (line.startsWith('+++') || line.startsWith('---')) return style.bold(line);
      if (line.startsWith('+')) return style.green(line);
      if (line.startsWith('-')) return style.red(line);
      if (line.startsWith('@@')) return style.cyan(line);
      return line;
    })
    .join('\n');
}
