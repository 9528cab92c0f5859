/**
 * smpps:// with a certificate from a private CA, as docs/guides/exolve.md tells an
 * operator to set it up: the CA in a PEM file named by NODE_EXTRA_CA_CERTS in the worker's
 * environment, certificate verification left on. The worker is a real process; the simulator
 * serves TLS with the test fixture (a self-signed CA certificate for 127.0.0.1).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startWorkerProcess, waitForStatuses } from '../support/worker-process.js';

const caFile = fileURLToPath(new URL('../fixtures/tls/smsc-test.crt', import.meta.url));
let tdb: TestDatabase;
let sim: Simulator;

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'TlsCheck'`);
  sim = await startSimulator({
    tls: { cert: readFileSync(caFile), key: readFileSync(new URL('../fixtures/tls/smsc-test.key', import.meta.url)) },
    receiptDelayMs: 10,
  });
});

after(async () => {
  await sim?.stop();
  await tdb?.drop();
});

const env = () => ({ DATABASE_URL: tdb.url, SMPP_URL: `smpps://tls:tls-check-pw@127.0.0.1:${sim.port}`, SMPP_RECONNECT_MAX_S: '1' });

test('without the CA the certificate is refused, and the worker keeps retrying', async () => {
  const w = startWorkerProcess(env());
  try {
    const refused = await w.waitForLog(/TLS|certificate/i, 20_000);
    assert.match(JSON.stringify(refused), /self[- ]signed|certificate/i);
    assert.equal(sim.boundSessions, 0);
  } finally {
    assert.equal(await w.stop(), 0);
  }
});

test('with NODE_EXTRA_CA_CERTS naming the CA, the worker binds over TLS and delivers', async () => {
  const w = startWorkerProcess({ ...env(), NODE_EXTRA_CA_CERTS: caFile });
  try {
    await w.waitForLog(/SMPP session bound/, 20_000);
    const { rows } = await tdb.pool.query<{ id: string }>(`select sms_send('+79990000001', 'over TLS') as id`);
    await waitForStatuses(tdb.pool, [rows[0]!.id], ['delivered']);
  } finally {
    assert.equal(await w.stop(), 0);
  }
});
