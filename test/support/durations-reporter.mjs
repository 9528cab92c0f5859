/**
 * A node:test reporter (test/support/run.ts adds it) that writes how long each test file's tests
 * took, as JSON `{ "<file relative to the repository>": milliseconds }`, so that the next run can
 * start the longest files first (see orderByDuration in run.ts). It writes nothing else.
 */
// JavaScript, not TypeScript: node loads reporters before the `--import tsx` hook is in place.
import path from 'node:path';

/** @param {AsyncIterable<{ type: string, data: { nesting?: number, file?: string, details?: { duration_ms?: number } } }>} source */
export default async function* durationsReporter(source) {
  /** @type {Record<string, number>} */
  const byFile = {};
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { nesting, file, details } = event.data;
    if (nesting !== 0 || !file) continue;
    const key = path.relative(process.cwd(), file).split(path.sep).join('/');
    byFile[key] = (byFile[key] ?? 0) + (details?.duration_ms ?? 0);
  }
  yield JSON.stringify(byFile);
}
