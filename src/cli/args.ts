/** Minimal, strict option parsing for the subcommands (node's util.parseArgs underneath). */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EXIT_USAGE, StartupError } from '../config.js';

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
