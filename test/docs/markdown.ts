/**
 * The documentation as the docs tests read it: which Markdown files there are, their headings
 * (with the anchors GitHub gives them), their links, and their fenced code blocks with the
 * `<!-- ... -->` marker on the line before each.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../support/compiled.js';

export { ROOT };

/** Every Markdown file a reader is sent to: the root pages and all of docs/, repository-relative. */
export function docFiles(): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(path.join(ROOT, dir))
      .sort()
      .flatMap((entry) => {
        const rel = `${dir}/${entry}`;
        if (statSync(path.join(ROOT, rel)).isDirectory()) return walk(rel);
        return entry.endsWith('.md') ? [rel] : [];
      });
  const root = ['README.md', 'ARCHITECTURE.md', 'CHANGELOG.md', 'CONTRIBUTING.md'];
  return [...root, ...walk('docs')];
}

export function readDoc(file: string): string {
  return readFileSync(path.join(ROOT, file), 'utf8');
}

/** Lines of `markdown` with whether each is inside a fenced code block (fences count as inside). */
function linesWithFences(markdown: string): { text: string; fenced: boolean }[] {
  let open: string | undefined;
  return markdown.split('\n').map((text) => {
    const fence = /^ {0,3}(`{3,}|~{3,})/.exec(text)?.[1];
    if (open === undefined && fence) {
      open = fence;
      return { text, fenced: true };
    }
    if (open !== undefined) {
      if (fence && fence[0] === open[0] && fence.length >= open.length && text.trim() === fence) open = undefined;
      return { text, fenced: true };
    }
    return { text, fenced: false };
  });
}

/** The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

export interface Heading {
  level: number;
  text: string;
  anchor: string;
  line: number;
}

export function headings(markdown: string): Heading[] {
  const seen = new Map<string, number>();
  const out: Heading[] = [];
  linesWithFences(markdown).forEach(({ text, fenced }, i) => {
    const m = fenced ? null : /^(#{1,6}) (.+?)\s*#*\s*$/.exec(text);
    if (!m) return;
    const base = slug(m[2]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.push({ level: m[1]!.length, text: m[2]!, anchor: n ? `${base}-${n}` : base, line: i + 1 });
  });
  return out;
}

/** The text under `heading` (a whole line such as `## Exit codes`), up to the next heading of its level or above. */
export function section(markdown: string, heading: string): string {
  const all = headings(markdown);
  const level = heading.split(' ')[0]!.length;
  const at = all.find((h) => h.level === level && `${'#'.repeat(level)} ${h.text}` === heading);
  if (!at) throw new Error(`no heading "${heading}"`);
  const next = all.find((h) => h.line > at.line && h.level <= level);
  const lines = markdown.split('\n');
  return lines.slice(at.line, next ? next.line - 1 : lines.length).join('\n');
}

export interface Link {
  target: string;
  line: number;
}

/** Inline links `[text](target)` and `<https://...>` outside code blocks and code spans. */
export function links(markdown: string): Link[] {
  const out: Link[] = [];
  linesWithFences(markdown).forEach(({ text, fenced }, i) => {
    if (fenced) return;
    const prose = text.replace(/(`+)[\s\S]*?\1/g, '');
    for (const m of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) out.push({ target: m[1]!, line: i + 1 });
    for (const m of prose.matchAll(/<(https?:\/\/[^>\s]+)>/g)) out.push({ target: m[1]!, line: i + 1 });
  });
  return out;
}

export interface Block {
  file: string;
  /** Line of the opening fence. */
  line: number;
  lang: string;
  code: string;
  /** The `<!-- ... -->` on the line before the opening fence, without the comment markers. */
  marker?: string;
  /** The heading the block is under. */
  heading?: string;
}

export function blocks(file: string, markdown = readDoc(file)): Block[] {
  const lines = markdown.split('\n');
  const out: Block[] = [];
  const all = headings(markdown);
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,})([\w-]*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const end = lines.findIndex((l, j) => j > i && l.trim() === open[1]);
    if (end < 0) throw new Error(`${file}:${i + 1}: unclosed code block`);
    const marker = /^<!-- (.+?) -->$/.exec(lines[i - 1] ?? '')?.[1];
    const heading = [...all].reverse().find((h) => h.line < i + 1)?.text;
    out.push({ file, line: i + 1, lang: open[2] ?? '', code: lines.slice(i + 1, end).join('\n'), ...(marker ? { marker } : {}), ...(heading ? { heading } : {}) });
    i = end;
  }
  return out;
}
