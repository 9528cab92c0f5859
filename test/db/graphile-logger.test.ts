/**
 * Graphile Worker's log lines in our JSON log (src/db/graphile-logger.ts): errors and warnings as
 * such with the error's message and code only (Graphile attaches whole pg clients), its info as our
 * debug (job-level chatter), and only errors and warnings on stderr when there is no logger.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { graphileLogger } from '../../src/db/graphile-logger.js';
import { captureLogs } from '../support/log-capture.js';

test('graphileLogger maps Graphile levels onto pino and keeps only the error\'s message and code', () => {
  const { lines, logger: pinoLogger } = captureLogs('trace');
  const logger = graphileLogger(pinoLogger).scope({ label: 'worker', taskIdentifier: 'sms_expire' });
  const pgClient = { connectionParameters: { password: 'never-logged' } };
  logger.error('Failed task sms_expire', { error: Object.assign(new Error('syntax error at or near ")"'), { code: '42601', client: pgClient }) });
  logger.warn('Runner stopping');
  logger.info('Completed task');
  logger.debug('Polling');
  const err = (l: Record<string, unknown>) => (l.err ? { message: (l.err as { message: string }).message, code: (l.err as { code: string }).code } : null);
  assert.deepEqual(
    lines.map((l) => [l.level, l.msg, err(l)]),
    [
      [50, 'Failed task sms_expire', { message: 'syntax error at or near ")"', code: '42601' }],
      [40, 'Runner stopping', null],
      [20, 'Completed task', null],
      [10, 'Polling', null],
    ],
  );
  assert.deepEqual(lines[0]!.graphile, { label: 'worker', taskIdentifier: 'sms_expire' });
  assert.ok(!JSON.stringify(lines).includes('never-logged'));
});

test('graphileLogger without a logger writes only errors and warnings, to stderr', () => {
  const written: string[] = [];
  const original = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string) => {
    written.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    const logger = graphileLogger();
    logger.info('chatter');
    logger.warn('a warning');
    logger.error('an error');
  } finally {
    process.stderr.write = original;
  }
  assert.deepEqual(written, ['graphile-worker: a warning\n', 'graphile-worker: an error\n']);
});
