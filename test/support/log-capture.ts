/** A pino logger whose JSON lines are kept in memory, for tests that check what was logged. */
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

export function captureLogs(level = 'info'): { lines: Record<string, unknown>[]; logger: Logger } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    }),
  );
  return { lines, logger };
}
