/** Minimal, strict option parsing for the subcommands (node's util.parseArgs underneath). */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EXIT_USAGE, StartupError } from '../errors.js';

export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(
  _command: string,
  args: string[],
  options: T,
  help: string,
) {
  try {
    const parsed = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: false, strict: true });
    if ((parsed.values as { help?: boolean }).help) {
      process.stdout.write(help);
      return null;
    }
    return parsed.values as { [K in keyof T]?: T[K]['type'] extends 'boolean' ? boolean : string };
  } catch (err) {
    throw new StartupError(`${(err as Error).message}\n\n${help}`, EXIT_USAGE);
  }
}

/**
 * Runs a script's main (the npm run bench:* scripts) the way `sms-outbox` runs a command: an
 * operator error (a bad option, --help's exit) is its message and exit code, anything else the
 * stack and exit 1.
 */
export function runScript(name: string, main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      if (err instanceof StartupError) {
        process.stderr.write(`${name}: ${err.message}\n`);
        process.exit(err.exitCode);
      }
      process.stderr.write(`${name}: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}

/** A numeric option: `fallback` when absent, else a number in [min, max] (an integer if asked), or a usage error (64). */
export function numberOption(name: string, value: string | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER, integer = false): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    const what = integer ? 'a whole number' : 'a number';
    throw new StartupError(`--${name} expects ${what} ${max === Number.MAX_SAFE_INTEGER ? `of ${min} or more` : `from ${min} to ${max}`}, got "${value}"`, EXIT_USAGE);
  }
  return n;
}
