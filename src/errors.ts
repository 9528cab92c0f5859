/**
 * The exit codes of every command (docs/reference/cli.md lists them; a test checks that it lists
 * exactly these), and the errors an operator is expected to fix. 64 and up are sysexits.h's:
 *    0                 done, or the worker stopped cleanly
 *    1                 an unexpected error, a failed migration, a shutdown cut short
 *   64 EX_USAGE        a bad command-line option
 *   69 EX_UNAVAILABLE  a dependency is unavailable right now (Postgres down): restarting later may work
 *   70 EX_SOFTWARE     an uncaught exception in the worker
 *   78 EX_CONFIG       the configuration is wrong: fix the environment (systemd does not restart: RestartPreventExitStatus=78)
 */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 64;
export const EXIT_UNAVAILABLE = 69;
export const EXIT_SOFTWARE = 70;
export const EXIT_CONFIG = 78;

/** An error the operator must fix, reported as one line (no stack trace) with an exit code. */
export class StartupError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_CONFIG,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StartupError';
  }
}

/** Bad environment variables, all of them at once. */
export class ConfigError extends StartupError {
  constructor(readonly problems: string[]) {
    // One problem: one line. Several: one line each, all at once, so one edit fixes them all.
    super(problems.length === 1 ? `invalid configuration: ${problems[0]}` : `invalid configuration:\n  ${problems.join('\n  ')}`, EXIT_CONFIG);
    this.name = 'ConfigError';
  }
}
