/**
 * Kannel's bearerbox and smsbox for `sms-outbox bench --kannel` (src/bench/kannel.ts): the
 * configuration of bench/kannel/ filled in for a run, the two processes started on 127.0.0.1 and
 * waited for until the SMSC link is online and smsbox takes requests, and stopped again, always:
 * on success, on error, and when this process exits or is interrupted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startOnFreePorts } from '../db/embedded.js';

/** Where Kannel keeps its receipts: `internal` (memory) or a table in PostgreSQL. */
export type KannelDlr = 'memory' | 'pgsql';

/** bench/kannel/ of the checkout (or of the installed package, beside dist/). */
export const KANNEL_CONFIG_DIR = fileURLToPath(new URL('../../bench/kannel/', import.meta.url));

/** The Kannel binaries: on PATH or where Debian's package puts them; undefined when missing. */
export function findKannel(): { bearerbox: string; smsbox: string } | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/local/sbin', '/usr/sbin'];
  const find = (name: string) => dirs.map((d) => path.join(d, name)).find((f) => existsSync(f));
  const bearerbox = find('bearerbox');
  const smsbox = find('smsbox');
  return bearerbox && smsbox ? { bearerbox, smsbox } : undefined;
}

/** Replaces every {{NAME}} of the template; a placeholder left without a value is an error. */
export function fillTemplate(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{\{([A-Z_]+)\}\}/g, (_, name: string) => {
    if (!(name in values)) throw new Error(`bench/kannel: no value for {{${name}}}`);
    return String(values[name]);
  });
}

export interface KannelConfigValues {
  dir: string;
  smscPort: number;
  window: number;
  dlr: KannelDlr;
  /** With dlr pgsql: the database Kannel keeps its receipts in. */
  pg?: { host: string; port: number; user: string; password: string; database: string };
}

export interface KannelPorts {
  admin: number;
  smsbox: number;
  sendsms: number;
}

/** kannel.conf of bench/kannel/ filled in, with dlr-pgsql.conf appended for pgsql. */
export function kannelConfig(v: KannelConfigValues, ports: KannelPorts): string {
  const read = (f: string) => readFileSync(path.join(KANNEL_CONFIG_DIR, f), 'utf8');
  const values: Record<string, string | number> = {
    DIR: v.dir,
    ADMIN_PORT: ports.admin,
    SMSBOX_PORT: ports.smsbox,
    SENDSMS_PORT: ports.sendsms,
    SMSC_PORT: v.smscPort,
    WINDOW: v.window,
    DLR_STORAGE: v.dlr === 'pgsql' ? 'pgsql' : 'internal',
  };
  let text = fillTemplate(read('kannel.conf'), values);
  if (v.dlr === 'pgsql') {
    if (!v.pg) throw new Error('bench/kannel: dlr pgsql needs a database');
    const pg = { PG_HOST: v.pg.host, PG_PORT: v.pg.port, PG_USER: v.pg.user, PG_PASSWORD: v.pg.password || 'none', PG_DATABASE: v.pg.database };
    text += `\n${fillTemplate(read('dlr-pgsql.conf'), pg)}`;
  }
  return text;
}

/** The text at http://127.0.0.1:port/path, or undefined while nothing answers there. */
export function httpText(port: number, pathname: string): Promise<{ status: number; text: string } | undefined> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: pathname, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', () => resolve(undefined));
    });
    req.on('error', () => resolve(undefined));
    req.setTimeout(5000, () => req.destroy());
  });
}

/**
 * Each box runs in a process group of its own, and is stopped with its group: smsbox that finds
 * bearerbox gone logs "Bearerbox is gone, restarting", ignores a SIGTERM from then on and starts
 * itself again, so the process we started is not always the last one running our configuration.
 */
function signalGroup(leader: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-leader, signal);
  } catch {
    // the group is empty
  }
}

/** Processes of the group led by `leader` that are still running (not zombies), from /proc. */
function groupMembers(leader: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after the last ')'.
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === leader && state !== 'Z') members.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return members;
}

/** Children still running, killed with their groups when this process exits or is interrupted. */
const running = new Set<ChildProcess>();
let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  const killAll = () => {
    for (const c of running) if (c.pid) signalGroup(c.pid, 'SIGKILL');
  };
  process.once('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAll();
      process.kill(process.pid, signal);
    });
  }
}

export interface KannelBoxes {
  ports: KannelPorts;
  pids(): number[];
  /** Stops both boxes with their process groups (SIGTERM, SIGKILL after 5 s) and waits for every process of them to exit. */
  stop(): Promise<void>;
}

function startBox(binary: string, conf: string, dir: string, name: string, onExit: (why: string) => void): ChildProcess {
  const err = openSync(path.join(dir, `${name}.stderr`), 'w');
  // -v 3: only errors on stderr (the log files get warnings); Kannel's default prints every debug line.
  const child = spawn(binary, ['-v', '3', conf], { stdio: ['ignore', err, err], detached: true });
  closeSync(err);
  running.add(child);
  child.once('exit', (code, signal) => {
    running.delete(child);
    onExit(`${name} exited (${signal ?? code}); see ${dir}/${name}.stderr and ${name}.log`);
  });
  child.once('error', (e) => onExit(`${name} did not start: ${e.message}`));
  return child;
}

/**
 * Stops a box and its process group: SIGTERM, SIGKILL after 5 s; once the box has exited, what
 * is left of its group is killed and waited for (at most 5 s more; a process that survives
 * SIGKILL that long is reported).
 */
async function stopBox(child: ChildProcess): Promise<void> {
  const leader = child.pid;
  if (leader === undefined) return;
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    signalGroup(leader, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(leader, 'SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
  const deadline = Date.now() + 5000;
  while (groupMembers(leader).length) {
    signalGroup(leader, 'SIGKILL');
    if (Date.now() > deadline) throw new Error(`Kannel: processes ${groupMembers(leader).join(', ')} of ${leader}'s group outlived SIGKILL`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A box could not listen on a port it was given: another process took it after freePort() chose it (it is retried). */
class PortTaken extends Error {}

/** Kannel's words when a box cannot listen on its port (bearerbox: admin and smsbox ports; smsbox: sendsms). */
const PORT_TAKEN = /bind failed|Address already in use|Could not open .*port/;

export interface StartKannelOptions {
  /** How long start-up may take (default 30 s). */
  timeoutMs?: number;
  /** The ports of each attempt (default: freeKannelPorts). */
  choosePorts?: () => Promise<KannelPorts>;
}

/**
 * Writes the configuration to dir/kannel.conf and starts bearerbox, then smsbox once bearerbox
 * listens; resolves when the SMSC link is online and smsbox answers on its sendsms port.
 * `died` is called if either exits after that, before stop().
 *
 * The ports are free when chosen (freePort), but another process may take one before the box
 * listens on it: a box that exits during start-up saying so is started again on new ports, up to
 * three times.
 */
export async function startKannel(
  binaries: { bearerbox: string; smsbox: string },
  values: KannelConfigValues,
  died: (why: string) => void,
  options: StartKannelOptions = {},
): Promise<KannelBoxes> {
  hookExit();
  const start = (ports: KannelPorts) => startOnce(binaries, values, died, ports, options.timeoutMs ?? 30_000);
  return startOnFreePorts(options.choosePorts ?? freeKannelPorts, start, (err) => err instanceof PortTaken);
}

/** Three free ports for Kannel's boxes (freePort). */
export async function freeKannelPorts(): Promise<KannelPorts> {
  return { admin: await freePort(), smsbox: await freePort(), sendsms: await freePort() };
}

async function startOnce(
  binaries: { bearerbox: string; smsbox: string },
  values: KannelConfigValues,
  died: (why: string) => void,
  ports: KannelPorts,
  timeoutMs: number,
): Promise<KannelBoxes> {
  const conf = path.join(values.dir, 'kannel.conf');
  writeFileSync(conf, kannelConfig(values, ports));
  // What an earlier attempt's boxes said must not decide this one's retry.
  for (const name of ['bearerbox', 'smsbox']) rmSync(path.join(values.dir, `${name}.stderr`), { force: true });
  let stopping = false;
  let started = false;
  let failure: string | undefined;
  const onExit = (why: string) => {
    if (stopping) return;
    failure ??= why;
    if (started) died(why);
  };
  const children: ChildProcess[] = [];
  const boxes: KannelBoxes = {
    ports,
    pids: () => children.map((c) => c.pid!).filter(Boolean),
    stop: async () => {
      stopping = true;
      // smsbox first, so that bearerbox does not wait for it; both, whatever the first does.
      let failure: unknown;
      for (const c of [...children].reverse()) await stopBox(c).catch((err: unknown) => (failure ??= err));
      if (failure) throw failure;
    },
  };
  const deadline = Date.now() + timeoutMs;
  const until = async (what: string, ready: () => Promise<boolean>) => {
    while (!(await ready())) {
      if (failure) throw new Error(failure);
      if (Date.now() > deadline) throw new Error(`Kannel: ${what} not ready after ${timeoutMs / 1000} s; logs in ${values.dir}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const status = () => httpText(ports.admin, '/status.txt?password=bench');
  try {
    children.push(startBox(binaries.bearerbox, conf, values.dir, 'bearerbox', onExit));
    await until('bearerbox', async () => (await status()) !== undefined);
    children.push(startBox(binaries.smsbox, conf, values.dir, 'smsbox', onExit));
    await until('the SMSC link', async () => /\bsim\b.*\bonline\b/.test((await status())?.text ?? ''));
    await until('smsbox', async () => (await httpText(ports.sendsms, '/')) !== undefined);
    started = true;
    if (failure) throw new Error(failure);
    return boxes;
  } catch (err) {
    await boxes.stop();
    const said = ['bearerbox', 'smsbox'].map((name) => readIfThere(path.join(values.dir, `${name}.stderr`))).join('\n');
    if (failure && PORT_TAKEN.test(said)) throw new PortTaken(failure);
    throw err;
  }
}

function readIfThere(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
