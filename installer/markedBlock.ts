// Text the installer adds to a host file lives between two marker lines, so removal restores the
// original bytes exactly without a backup and without knowing what the file held before. The begin
// marker records whether the installer also added the newline that ended the file's last line
// (`nl=1`) and whether it created the file (`created=1`), so removal needs no journal either.

export const BLOCK_TAG = 'vnode-runtime';

export interface MarkedBlockOptions {
  /** The installer creates the file: removal that leaves it empty deletes it. */
  created?: boolean;
}

export interface FoundBlock {
  start: number;
  end: number;
  body: string;
  addedNewline: boolean;
  created: boolean;
}

const beginLine = (tag: string) => `# BEGIN ${tag} (managed by the vNode installer; removed on uninstall; do not edit)`;
const endLine = (tag: string) => `# END ${tag}`;

/** The lines the block adds, with its own trailing newline. */
export function renderBlock(body: string, opts: MarkedBlockOptions & { addedNewline?: boolean } = {}, tag = BLOCK_TAG): string {
  const flags = [opts.addedNewline ? 'nl=1' : 'nl=0', opts.created ? 'created=1' : 'created=0'].join(' ');
  const text = body.endsWith('\n') ? body : `${body}\n`;
  return `${beginLine(tag)} ${flags}\n${text}${endLine(tag)}\n`;
}

/** Appends a block at the end of `text` (undefined = the file does not exist yet). */
export function appendBlock(text: string | undefined, body: string, tag = BLOCK_TAG): string {
  if (text === undefined) return renderBlock(body, { created: true }, tag);
  const needsNewline = text.length > 0 && !text.endsWith('\n');
  // A blank line before the block keeps the file readable; it is part of what removal takes away.
  const sep = text.length === 0 ? '' : '\n';
  return `${text}${needsNewline ? '\n' : ''}${sep}${renderBlock(body, { addedNewline: needsNewline }, tag)}`;
}

/** Every block of `tag` in `text`, in order. Throws on an unterminated or nested block. */
export function findBlocks(text: string, tag = BLOCK_TAG): FoundBlock[] {
  const found: FoundBlock[] = [];
  const begin = beginLine(tag);
  const end = endLine(tag);
  let pos = 0;
  for (;;) {
    const b = text.indexOf(begin, pos);
    if (b < 0) break;
    if (b > 0 && text[b - 1] !== '\n') throw new Error(`marker "${begin}" is not at the start of a line (offset ${b})`);
    const lineEnd = text.indexOf('\n', b);
    if (lineEnd < 0) throw new Error(`unterminated ${tag} block at offset ${b}`);
    const flags = text.slice(b + begin.length, lineEnd);
    const e = text.indexOf(`\n${end}\n`, lineEnd - 1);
    const eAtEof = text.endsWith(`\n${end}`) ? text.length - end.length - 1 : -1;
    const endAt = e >= 0 ? e : eAtEof;
    if (endAt < 0) throw new Error(`unterminated ${tag} block at offset ${b}`);
    const nested = text.indexOf(begin, lineEnd);
    if (nested >= 0 && nested < endAt) throw new Error(`nested ${tag} block at offset ${nested}`);
    const blockEnd = Math.min(text.length, endAt + 1 + end.length + 1);
    found.push({
      start: b,
      end: blockEnd,
      body: text.slice(lineEnd + 1, endAt + 1),
      addedNewline: /\bnl=1\b/.test(flags),
      created: /\bcreated=1\b/.test(flags),
    });
    pos = blockEnd;
  }
  return found;
}

export interface RemovalResult {
  /** The text without the blocks; undefined when the installer created the file and nothing else is left. */
  text: string | undefined;
  removed: number;
}

/** Removes every block of `tag`, with the separator and newline that appendBlock added. */
export function removeBlocks(text: string, tag = BLOCK_TAG): RemovalResult {
  const blocks = findBlocks(text, tag);
  if (!blocks.length) return { text, removed: 0 };
  let out = '';
  let pos = 0;
  let created = false;
  for (const blk of blocks) {
    let head = text.slice(pos, blk.start);
    // Take back the separator appendBlock put before a block that does not open the file, and
    // with nl=1 the newline it added to the file's last line.
    if (blk.start > 0) head = head.slice(0, -1);
    if (blk.addedNewline && head.endsWith('\n')) head = head.slice(0, -1);
    out += head;
    pos = blk.end;
    created ||= blk.created;
  }
  out += text.slice(pos);
  return { text: created && out.length === 0 ? undefined : out, removed: blocks.length };
}
