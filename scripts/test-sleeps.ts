/**
 * Fixed sleeps in the tests (issue 21): the literal milliseconds passed to sleep(), delay() and
 * setTimeout() in test/**\/*.ts, summed. A timer that only bounds a wait (its callback rejects,
 * kills or fails: a deadline, hit only when the test fails anyway) is not a sleep and is listed
 * apart; so is a call whose time is not a literal (computed: listed with its expression).
 *
 * Usage: npx tsx scripts/test-sleeps.ts [--list] [dir ...]   (default dir: test)
 * Prints `fixed sleeps: N ms in M calls (K files)` last.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const list = args.includes('--list');
const dirs = args.filter((a) => a !== '--list');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) return files(full);
    return /\.(ts|js|mjs)$/.test(entry) ? [full] : [];
  });
}

/** The text of the call's arguments, from the opening parenthesis at `open` (balanced). */
function argsAt(text: string, open: number): string[] {
  let depth = 0;
  let current = '';
  const out: string[] = [];
  let quote: string | null = null;
  for (let i = open; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      current += ch;
      if (ch === '\\') current += text[++i] ?? '';
      else if (ch === quote) quote = null;
      continue;
    }
    if (ch === '"' || ch === "'" || ch === '`') {
      quote = ch;
      current += ch;
      continue;
    }
    if (ch === '(' || ch === '[' || ch === '{') {
      depth++;
      if (depth === 1) continue;
    } else if (ch === ')' || ch === ']' || ch === '}') {
      depth--;
      if (depth === 0) {
        out.push(current.trim());
        return out;
      }
    } else if (ch === ',' && depth === 1) {
      out.push(current.trim());
      current = '';
      continue;
    }
    current += ch;
  }
  return out;
}

const literal = (s: string | undefined) => (s !== undefined && /^\d[\d_]*$/.test(s) ? Number(s.replaceAll('_', '')) : null);
/** A callback that only ends a wait that already failed: reject, kill, fail, throw, abort. */
const bounding = (callback: string) => /reject|kill|fail|throw|abort|timedOut|timeout/i.test(callback);

let total = 0;
let calls = 0;
const perFile = new Map<string, number>();
const other: string[] = [];
for (const dir of dirs.length ? dirs : ['test']) {
  for (const file of files(dir).sort()) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/\b(sleep|delay|setTimeout)\s*\(/g)) {
      // Skip definitions (function sleep(ms) / const sleep = (ms) => ...) and member calls of other objects.
      const before = text.slice(Math.max(0, m.index! - 10), m.index!);
      if (/function\s+$/.test(before) || /\.\s*$/.test(before)) continue;
      const a = argsAt(text, m.index! + m[0].length - 1);
      const line = text.slice(0, m.index!).split('\n').length;
      const where = `${file}:${line}`;
      const ms = m[1] === 'setTimeout' ? a[1] : a[0];
      const n = literal(ms);
      if (m[1] === 'setTimeout' && a[0] !== undefined && bounding(a[0])) {
        other.push(`${where}  deadline ${ms ?? '(none)'}`);
        continue;
      }
      if (n === null) {
        other.push(`${where}  not a literal: ${m[1]}(${a.join(', ')})`);
        continue;
      }
      total += n;
      calls++;
      perFile.set(file, (perFile.get(file) ?? 0) + n);
      if (list) process.stdout.write(`${where}  ${n} ms  ${m[1]}(${a.join(', ')})\n`);
    }
  }
}
if (list) {
  process.stdout.write('\nper file:\n');
  for (const [f, n] of [...perFile].sort((x, y) => y[1] - x[1])) process.stdout.write(`${String(n).padStart(8)} ms  ${f}\n`);
  process.stdout.write('\nnot counted:\n');
  for (const o of other) process.stdout.write(`  ${o}\n`);
}
process.stdout.write(`fixed sleeps: ${total} ms in ${calls} calls (${perFile.size} files)\n`);
