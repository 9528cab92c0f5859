/**
 * A node:test reporter (test/support/run.ts adds it beside the spec reporter) that writes, as
 * JSON, the run's totals (`pass` and `fail`, from the runner's closing summary, which counts every
 * test) and how long each test file's tests took (`durations`: `{ "<file relative to the
 * repository>": milliseconds }`), so that run.ts can print the closing line CI reads and the next
 * run can start the longest files first (see orderByDuration in run.ts). It writes nothing else.
 */
// JavaScript, not TypeScript: node loads reporters before the `--import tsx` hook is in place.
import path from 'node:path';

/**
 * @param {AsyncIterable<{ type: string, data: { nesting?: number, file?: string, message?: string, details?: { duration_ms?: number } } }>} source
 */
export default async function* runReporter(source) {
  /** @type {Record<string, number>} */
  const durations = {};
  /** @type {Record<string, number>} */
  const totals = { pass: 0, fail: 0 };
  for await (const event of source) {
    const { nesting, file, details, message } = event.data;
    if (nesting !== 0) continue;
    if (event.type === 'test:diagnostic') {
      // The summary: "tests 168", "pass 168", "fail 0", ...
      const m = /^(pass|fail) (\d+)$/.exec(message ?? '');
      if (m) totals[m[1]] = Number(m[2]);
    } else if ((event.type === 'test:pass' || event.type === 'test:fail') && file) {
      const key = path.relative(process.cwd(), file).split(path.sep).join('/');
      durations[key] = (durations[key] ?? 0) + (details?.duration_ms ?? 0);
    }
  }
  yield JSON.stringify({ ...totals, durations });
}
