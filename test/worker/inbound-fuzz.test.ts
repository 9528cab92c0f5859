/**
 * The inbound path under random input (property/fuzz test): at least 10,000 random deliver_sm and
 * data_sm (any data_coding and esm_class, UDH, TLVs, 0x00 anywhere, C-strings without their NUL
 * or too long, sm_length and TLV lengths that lie, bodies cut short or with bytes left over) sent
 * over TCP by the simulator to the worker as a real child process, after which the SMSC sends
 * ordinary receipts for messages the worker really submitted.
 *
 * The worker must answer every PDU (no stall), stay up (no crash, no fatal or "bug:" log line),
 * and match every ordinary receipt that comes after the garbage.
 *
 * The PDUs come from fast-check with a fixed seed, so a run is reproducible; SMS_TEST_FUZZ_SEED
 * picks another seed and SMS_TEST_FUZZ_PDUS another count.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startWorkerProcess, waitForStatuses, type WorkerProcess } from '../support/worker-process.js';
import { waitFor } from '../ops/helpers.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { classifyStatus } from '../../src/smpp/command-status.js';
import { CMD } from '../../src/smpp/pdu.js';

const SEED = Number(process.env.SMS_TEST_FUZZ_SEED ?? 20_250_917);
const PDUS = Number(process.env.SMS_TEST_FUZZ_PDUS ?? 10_000);
const MESSAGES = 100;

let tdb: TestDatabase;
let sim: Simulator;
let worker: WorkerProcess;

// ------------------------------------------------------------------ the generator

const bytes = (maxLength: number, minLength = 0) => fc.uint8Array({ minLength, maxLength }).map((a) => Buffer.from(a));
const withoutNul = (b: Buffer) => Buffer.from(b.filter((x) => x !== 0));

/** A C-Octet string: usually well formed (up to `max` octets and a NUL), else too long or unterminated. */
const cString = (max: number, typical: fc.Arbitrary<Buffer> = bytes(max).map(withoutNul)) =>
  fc.oneof(
    { weight: 40, arbitrary: typical.map((b) => Buffer.concat([b, Buffer.from([0])])) },
    { weight: 1, arbitrary: bytes(max + 12, max + 1).map((b) => Buffer.concat([withoutNul(b), Buffer.from([0])])) },
    { weight: 1, arbitrary: bytes(6).map(withoutNul) },
  );

const digits = fc.stringMatching(/^[0-9]{1,15}$/).map((s) => Buffer.from(s));
const address = cString(20, fc.oneof(digits, bytes(20).map(withoutNul), fc.constant(Buffer.from('TestBrand'))));
const octet = (...typical: number[]) => fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...typical) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) });
const esmClass = octet(0x00, 0x04, 0x08, 0x20, 0x40, 0x44, 0x24);
const dataCoding = octet(0x00, 0x01, 0x03, 0x04, 0x06, 0x08, 0x10, 0x18, 0xf0, 0xf4);

/** A UDH: concatenation (8- or 16-bit reference, sane or not), another IE, or a length that lies. */
const udh = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 5 })).map(([ref, total, seq]) => Buffer.from([5, 0, 3, ref, total, seq])),
  fc.tuple(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 })).map(([ref, total, seq]) => Buffer.from([6, 8, 4, ref >> 8, ref & 255, total, seq])),
  bytes(12, 1).map((b) => Buffer.concat([Buffer.from([b.length]), b])),
  bytes(12, 1),
);

/** Receipt text with the fields SMSCs send, in any order, and junk (0x00 included) where values go. */
const receiptText = fc
  .tuple(
    fc.oneof(
      { weight: 20, arbitrary: fc.stringMatching(/^[0-9A-Fa-f]{1,20}$/) },
      { weight: 20, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
      // Longer than a btree index entry may be (about 2.7 kB): Postgres refuses to index it.
      { weight: 1, arbitrary: bytes(8000, 3000).map((b) => b.toString('hex')) },
    ),
    fc.constantFrom('DELIVRD', 'UNDELIV', 'EXPIRED', 'REJECTD', 'ACCEPTD', 'ENROUTE', 'bogus', ''),
    fc.string({ unit: 'binary', maxLength: 30 }),
    fc.boolean(),
  )
  .map(([id, stat, text, shuffled]) => {
    const fields = [`id:${id}`, 'sub:001', 'dlvrd:001', 'submit date:2501011200', 'done date:2501011201', `stat:${stat}`, 'err:000', `text:${text}`];
    if (shuffled) fields.reverse();
    return Buffer.from(fields.join(' '), 'latin1');
  });

/** short_message: text-like bytes, arbitrary bytes, a UDH and payload, or a receipt text. */
const userData = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 160 }).map((s) => Buffer.from(s, 'latin1')),
  bytes(255),
  fc.tuple(udh, bytes(140)).map(([h, p]) => Buffer.concat([h, p])),
  { weight: 3, arbitrary: receiptText },
  fc.constant(Buffer.alloc(0)),
);

const tlv = (tag: number, value: fc.Arbitrary<Buffer>) => value.map((v) => ({ tag, value: v }));
const tlvs = fc.array(
  fc.oneof(
    tlv(0x001e, fc.oneof(fc.stringMatching(/^[0-9A-F]{1,16}$/).map((s) => Buffer.from(`${s}\0`)), bytes(70))),
    tlv(0x0427, fc.oneof(bytes(1, 1), bytes(5))),
    tlv(0x0423, bytes(4)),
    tlv(0x0424, fc.oneof(userData, bytes(1200), receiptText)),
    tlv(0x020c, bytes(4)),
    tlv(0x020e, bytes(2)),
    tlv(0x020f, bytes(2)),
    fc.tuple(fc.integer({ min: 0, max: 0xffff }), bytes(20)).map(([tag, value]) => ({ tag, value })),
  ),
  { maxLength: 4 },
);

/** Encodes TLVs; now and then a length that does not match what follows. */
const encodedTlvs = fc.tuple(tlvs, fc.integer({ min: 0, max: 29 }), fc.integer({ min: 0, max: 0xffff })).map(([list, lie, lieLength]) =>
  Buffer.concat(
    list.map(({ tag, value }, i) => {
      const head = Buffer.alloc(4);
      head.writeUInt16BE(tag, 0);
      head.writeUInt16BE(lie === 0 && i === list.length - 1 ? lieLength : value.length, 2);
      return Buffer.concat([head, value]);
    }),
  ),
);

/** A body cut short, with bytes left over, or as built. */
const mutate = (body: fc.Arbitrary<Buffer>) =>
  fc.tuple(body, fc.integer({ min: 0, max: 29 }), fc.nat(), bytes(8, 1)).map(([b, how, at, extra]) => {
    if (how === 0) return b.subarray(0, at % (b.length + 1));
    if (how === 1) return Buffer.concat([b, extra]);
    return b;
  });

const deliverSm = mutate(
  fc
    .tuple(
      cString(5, fc.constantFrom(Buffer.alloc(0), Buffer.from('CMT'), Buffer.from('WAP'))),
      octet(0, 1, 5),
      octet(0, 1),
      address,
      octet(0, 1, 5),
      octet(0, 1),
      address,
      esmClass,
      octet(0),
      octet(0),
      cString(16, fc.constant(Buffer.alloc(0))),
      cString(16, fc.constant(Buffer.alloc(0))),
      octet(0, 1),
      octet(0),
      dataCoding,
      octet(0),
      userData,
      fc.oneof({ weight: 29, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
      encodedTlvs,
    )
    .map(([service, sTon, sNpi, source, dTon, dNpi, dest, esm, pid, prio, sched, valid, reg, repl, dc, dflt, sm, smLength, options]) =>
      Buffer.concat([
        service,
        Buffer.from([sTon, sNpi]),
        source,
        Buffer.from([dTon, dNpi]),
        dest,
        Buffer.from([esm, pid, prio]),
        sched,
        valid,
        Buffer.from([reg, repl, dc, dflt, smLength < 0 ? Math.min(sm.length, 255) : smLength]),
        sm.subarray(0, 255),
        options,
      ]),
    ),
);

const dataSm = mutate(
  fc
    .tuple(cString(5, fc.constant(Buffer.alloc(0))), octet(0, 1, 5), octet(0, 1), address, octet(0, 1, 5), octet(0, 1), address, esmClass, octet(0, 1), dataCoding, encodedTlvs)
    .map(([service, sTon, sNpi, source, dTon, dNpi, dest, esm, reg, dc, options]) =>
      Buffer.concat([service, Buffer.from([sTon, sNpi]), source, Buffer.from([dTon, dNpi]), dest, Buffer.from([esm, reg, dc]), options]),
    ),
);

const pdu = fc.oneof(
  { weight: 9, arbitrary: deliverSm.map((body) => ({ commandId: CMD.deliver_sm, body })) },
  { weight: 1, arbitrary: dataSm.map((body) => ({ commandId: CMD.data_sm, body })) },
);

// ------------------------------------------------------------------ the run

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'TestBrand'`);
  // Every PDU is answered once and never sent again, so "answered" counts each exactly once.
  sim = await startSimulator({ redeliver: false, receipts: false, firstId: 0x5eed_0000 });
  worker = startWorkerProcess({
    DATABASE_URL: tdb.url,
    SMPP_URL: `smpp://test:secret@127.0.0.1:${sim.port}`,
    SMPP_RECONNECT_MAX_S: '1',
  });
  await worker.waitForLog(/worker started/);
});

after(async () => {
  await worker?.stop();
  await sim?.stop();
  await tdb?.drop();
});

test(`${PDUS} random deliver_sm / data_sm (seed ${SEED}): every one answered, the worker stays up, every receipt after them matched`, async (t) => {
  // Messages the worker really submits, whose receipts come only after the garbage.
  const { rows } = await tdb.pool.query<{ id: string }>(
    `select sms_send('+7999' || lpad(i::text, 7, '0'), 'fuzz ' || i) as id from generate_series(1, $1::int) i`,
    [MESSAGES],
  );
  const ids = rows.map((r) => r.id);
  await waitForStatuses(tdb.pool, ids, ['sent'], 30_000);
  const submitted = sim.received.submits.filter((s) => s.messageId !== null);
  assert.equal(submitted.length, MESSAGES);

  const pdus = fc.sample(pdu, { seed: SEED, numRuns: PDUS });
  const startedAt = Date.now();
  for (const p of pdus) sim.sendRawRequest(p.commandId, p.body);
  await waitFor(
    'every random PDU answered',
    async () => {
      assert.equal(worker.child.exitCode, null, 'the worker is running');
      return sim.received.deliverResps.length >= PDUS;
    },
    90_000,
    50,
  ).catch((err: Error) => {
    throw new Error(`${err.message}: ${sim.received.deliverResps.length} of ${PDUS} answered, ${sim.unansweredDeliveries} waiting`);
  });
  const garbageSeconds = (Date.now() - startedAt) / 1000;
  const byStatus = new Map<string, number>();
  for (const r of sim.received.deliverResps) {
    const name = classifyStatus(r.status).name;
    byStatus.set(name, (byStatus.get(name) ?? 0) + 1);
  }

  // Ordinary receipts for every submitted message, after the garbage.
  for (const s of submitted) sim.sendReceipt({ messageId: s.messageId!, state: 'DELIVRD', source: s.destination, destination: s.source });
  await waitForStatuses(tdb.pool, ids, ['delivered'], 30_000);
  // The worker answers a receipt once its write committed: the statuses can be read a moment
  // before the answers reach the simulator.
  await waitFor('every receipt answered', async () => sim.received.deliverResps.length >= PDUS + MESSAGES, 30_000, 50).catch(() => {});
  const matched = (await tdb.pool.query<{ n: number }>(`select count(*)::int as n from sms_outbox where status = 'delivered' and receipt_state = 'DELIVRD'`)).rows[0]!.n;

  const stalls = sim.unansweredDeliveries;
  const crashed = worker.child.exitCode !== null || worker.child.signalCode !== null;
  const fatal = worker.logs.filter((l) => Number(l.level) >= 60 || /^bug:/.test(String(l.msg)));
  const stored = (
    await tdb.pool.query<{ inbox: number; parts: number; receipts: number; parked: number; codes: string | null }>(`
      select (select count(*)::int from sms_inbox) as inbox, (select count(*)::int from sms_inbox_part) as parts,
             (select count(*)::int from sms_receipt) as receipts, (select count(*)::int from sms_inbound_parked) as parked,
             (select string_agg(distinct error_code, ', ') from sms_inbound_parked) as codes`)
  ).rows[0]!;
  t.diagnostic(
    `seed ${SEED}: ${PDUS} PDUs sent in ${garbageSeconds.toFixed(1)} s, answered ${[...byStatus].map(([k, v]) => `${k} ${v}`).join(', ')}; ` +
      `stalls ${stalls}, crashes ${crashed ? 1 : 0}, fatal/bug log lines ${fatal.length}; receipts matched after the garbage ${matched}/${MESSAGES}; ` +
      `stored: sms_inbox ${stored.inbox}, sms_inbox_part ${stored.parts}, sms_receipt ${stored.receipts}, parked ${stored.parked}${stored.codes ? ` (${stored.codes})` : ''}`,
  );
  assert.equal(stalls, 0, 'every PDU answered');
  assert.equal(sim.received.deliverResps.length, PDUS + MESSAGES, 'each answered once');
  assert.equal(crashed, false);
  assert.deepEqual(fatal, []);
  assert.equal(matched, MESSAGES);
  assert.ok((byStatus.get('ESME_ROK') ?? 0) > PDUS / 3, 'a good share of the random PDUs decoded and went through Postgres');
});
