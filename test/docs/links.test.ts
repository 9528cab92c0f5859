/**
 * Every link in the documentation goes somewhere: a relative link names a file or folder of the
 * repository, and its #anchor a heading of that page (as GitHub renders it). No page, unit file
 * or package field points at a repository address: there is no public repository to check one
 * against.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { docFiles, headings, links, readDoc, ROOT } from './markdown.js';

const anchorsOf = new Map<string, Set<string>>();
function anchors(file: string): Set<string> {
  let set = anchorsOf.get(file);
  if (!set) {
    set = new Set(headings(readDoc(file)).map((h) => h.anchor));
    anchorsOf.set(file, set);
  }
  return set;
}

describe('links in the documentation', () => {
  for (const file of docFiles()) {
    test(`${file}: every relative link and anchor resolves`, () => {
      const broken: string[] = [];
      for (const { target, line } of links(readDoc(file))) {
        if (/^(https?|mailto):/.test(target)) continue;
        const [pathPart, anchor] = target.split('#', 2) as [string, string | undefined];
        const resolved = pathPart ? path.posix.normalize(path.posix.join(path.posix.dirname(file), decodeURI(pathPart))) : file;
        if (resolved.startsWith('..') || !existsSync(path.join(ROOT, resolved))) {
          broken.push(`${file}:${line}: ${target}: no such file`);
          continue;
        }
        if (anchor !== undefined) {
          if (statSync(path.join(ROOT, resolved)).isDirectory() || !resolved.endsWith('.md')) {
            broken.push(`${file}:${line}: ${target}: an anchor into a file that is not a Markdown page`);
          } else if (!anchors(resolved).has(anchor)) {
            broken.push(`${file}:${line}: ${target}: ${resolved} has no heading with the anchor #${anchor}`);
          }
        }
      }
      assert.deepEqual(broken, []);
    });
  }

  test('every page of docs/ is linked from another page', () => {
    const linked = new Set<string>();
    for (const file of docFiles()) {
      for (const { target } of links(readDoc(file))) {
        if (/^(https?|mailto):/.test(target)) continue;
        const pathPart = target.split('#', 1)[0]!;
        if (pathPart) linked.add(path.posix.normalize(path.posix.join(path.posix.dirname(file), decodeURI(pathPart))));
      }
    }
    const orphans = docFiles().filter((f) => f.startsWith('docs/') && !linked.has(f));
    assert.deepEqual(orphans, []);
  });
});

test('no file names a repository address (there is no public repository to check it against)', () => {
  const tracked = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f && !f.startsWith('test/') && existsSync(path.join(ROOT, f)) && !/\.(png|jpg|gz|tgz)$/.test(f) && f !== 'npm-shrinkwrap.json');
  const offenders = tracked.filter((f) => /https?:\/\/(www\.)?(github\.com|gitlab\.com|bitbucket\.org)\/sms-outbox\b/i.test(readFileSync(path.join(ROOT, f), 'utf8')));
  assert.deepEqual(offenders, []);
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  for (const field of ['repository', 'homepage', 'bugs']) assert.equal(pkg[field], undefined, `package.json has no "${field}"`);
});
