/** Shared set-up for the SMPP integration tests: a real simulator on loopback and a real session. */
import { once } from 'node:events';
import { pino } from 'pino';
import { SmppSession, type SessionOptions } from '../../src/smpp/session.js';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js';
import { waitFor } from '../support/wait.js';
import type { Logger } from '../../src/logger.js';

export const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** Small timeouts keep the suite fast; each test overrides what it exercises. */
export function sessionOptions(sim: { port: number }, overrides: Partial<SessionOptions> = {}): SessionOptions {
  return {
    host: '127.0.0.1',
    port: sim.port,
    tls: false,
    tlsVerify: true,
    systemId: 'test',
    password: 'secret',
    systemType: 'OTP',
    bindMode: 'transceiver',
    window: 10,
    enquireLinkSeconds: 30,
    responseTimeoutMs: 2000,
    reconnectMaxMs: 2000,
    reconnectMinMs: 20,
    throttleBackoffMinMs: 10,
    throttleBackoffMaxMs: 100,
    drainTimeoutMs: 2000,
    ...overrides,
  };
}

export interface Harness {
  sim: Simulator;
  session: SmppSession;
  close(): Promise<void>;
}

/** Starts a simulator and a session bound to it, logging to `log` (silent unless a test keeps the lines). */
export async function bound(simOptions: SimulatorOptions = {}, overrides: Partial<SessionOptions> = {}, log: Logger = logger): Promise<Harness> {
  const sim = await startSimulator(simOptions);
  const session = new SmppSession(sessionOptions(sim, overrides), log);
  const ready = once(session, 'bound');
  session.start();
  await ready;
  return {
    sim,
    session,
    close: async () => {
      await session.stop({ drainTimeoutMs: 200 });
      await sim.stop();
    },
  };
}

/** test/support/wait.ts's waitFor for a truthy value, looking every 5 ms (as these tests call it). */
export async function until<T>(check: () => T, timeoutMs = 10_000, what = 'condition'): Promise<NonNullable<T>> {
  return (await waitFor(what, () => check() || undefined, { timeoutMs, everyMs: 5 })) as NonNullable<T>;
}

export function msg(i: number | string, body = `Your code is ${String(i).padStart(6, '0')}`, destination = '79991234567') {
  return { id: `m${i}`, source: 'MyShop', destination, body };
}
