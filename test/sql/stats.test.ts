/** sms_stats (the view) and `sms-outbox status` (the command that prints it). */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { cliArgs } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { ROOT } from '../support/compiled.js';
import { holdMessages } from '../support/rows.js';

const run = promisify(execFile);

let tdb: TestDatabase;

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'MyShop'`);
});
after(() => tdb.drop());

async function stats(): Promise<Record<string, unknown>> {
  const r = await tdb.pool.query('select * from public.sms_stats');
  assert.equal(r.rows.length, 1, 'sms_stats is one row');
  return r.rows[0] as Record<string, unknown>;
}

async function enqueue(n: number, extra = ''): Promise<string[]> {
  const r = await tdb.pool.query<{ id: string }>(
    `select public.sms_send('+79991234567', 'stats ' || g${extra}) as id from generate_series(1, $1) g`,
    [n],
  );
  return r.rows.map((row) => row.id);
}

/**
 * Moves rows as the worker would, with the timestamps offset by `ago`. A row being sent stays
 * queued in sms_outbox, held by a lease in sms_private.outbox_lease (migration 0034).
 */
async function move(ids: string[], status: string, ago = '0 s'): Promise<void> {
  if (status === 'sending') {
    await holdMessages(tdb.pool, ids, { workerId: 'stats-worker', lease: '15 s' });
    return;
  }
  const final = !['queued', 'sent'].includes(status);
  await tdb.pool.query(
    `update public.sms_outbox
        set status = $2,
            submitted_at = case when $2 in ('sent', 'delivered', 'undelivered') then now() - $4::interval end,
            done_at = case when $3 then now() - $4::interval end
      where id = any($1::uuid[])`,
    [ids, status, final, ago],
  );
}

describe('sms_stats', () => {
  test('an empty outbox: zero everywhere, no oldest age', async () => {
    assert.deepEqual(await stats(), {
      queued: '0',
      sending: '0',
      sent: '0',
      delivered: '0',
      undelivered: '0',
      expired: '0',
      rejected: '0',
      failed: '0',
      cancelled: '0',
      oldest_queued_age: null,
      sent_last_minute: '0',
      delivered_last_minute: '0',
      receipts_overdue: '0',
    });
  });

  test('counts per status, oldest due age, and the last minute', async () => {
    const ids = await enqueue(30);
    await enqueue(2, `, send_at => now() + interval '1 hour'`); // queued but not due
    // Held by a worker, and due the longest: not the oldest queued message, since a worker has it.
    await move(ids.slice(0, 2), 'sending');
    await tdb.pool.query(`update public.sms_outbox set next_attempt_at = now() - interval '1 hour' where id = any($1::uuid[])`, [ids.slice(0, 2)]);
    await move(ids.slice(2, 5), 'sent');
    await move(ids.slice(5, 9), 'delivered'); // just now
    await move(ids.slice(9, 11), 'delivered', '5 minutes'); // long ago
    await move(ids.slice(11, 12), 'undelivered');
    await move(ids.slice(12, 13), 'expired');
    await move(ids.slice(13, 15), 'rejected');
    await move(ids.slice(15, 16), 'failed');
    await tdb.pool.query('select public.sms_cancel(id) from unnest($1::uuid[]) id', [ids.slice(16, 18)]);
    // ids 18..29 stay queued and due; make one of them due 90 s ago.
    await tdb.pool.query(`update public.sms_outbox set next_attempt_at = now() - interval '90 s' where id = $1`, [ids[18]]);

    const s = await stats();
    assert.deepEqual(
      { ...s, oldest_queued_age: undefined },
      {
        queued: '14',
        sending: '2',
        sent: '3',
        delivered: '6',
        undelivered: '1',
        expired: '1',
        rejected: '2',
        failed: '1',
        cancelled: '2',
        oldest_queued_age: undefined,
        sent_last_minute: String(3 + 4 + 1),
        delivered_last_minute: '4',
        receipts_overdue: '0',
      },
    );
    const age = (await tdb.pool.query<{ s: number }>('select extract(epoch from oldest_queued_age)::float8 as s from public.sms_stats')).rows[0]!.s;
    assert.ok(age >= 90 && age < 120, `oldest_queued_age ${age}s (the held rows, due an hour ago, are not queued for it)`);
    // The table itself: the two messages being sent are queued rows there (12 due + 2 not due + 2 held).
    const table = await tdb.pool.query(`select status, count(*)::int as n from public.sms_outbox where status in ('queued', 'sending') group by status`);
    assert.deepEqual(table.rows, [{ status: 'queued', n: 16 }]);
  });

  test('every part of the view can be answered from an index', async () => {
    const client = await tdb.connect();
    try {
      await client.query('set enable_seqscan = off');
      const plan = (await client.query<{ 'QUERY PLAN': string }>('explain select * from public.sms_stats')).rows.map((r) => r['QUERY PLAN']).join('\n');
      assert.doesNotMatch(plan, /Seq Scan/, plan);
      // sent_last_minute: the sent rows' index and the finished rows' (0017 dropped the index of submitted_at).
      // sending (and the held rows queued and oldest_queued_age leave out): the leases' primary key
      // (sms_outbox_lease_idx went with migration 0034).
      for (const index of ['sms_outbox_due_idx', 'outbox_lease_pkey', 'sms_outbox_sent_idx', 'sms_outbox_done_idx']) {
        assert.match(plan, new RegExp(index), `${index} should serve sms_stats:\n${plan}`);
      }
    } finally {
      await client.end();
    }
  });
});

describe('sms-outbox status', () => {
  const cli = (args: string[], env: Record<string, string>) =>
    run(process.execPath, cliArgs(['status', ...args]), {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: '', ...env },
    });

  test('--json prints the view as one object', async () => {
    const { stdout } = await cli(['--json'], { DATABASE_URL: tdb.url });
    assert.ok(stdout.endsWith('}\n'), 'one line, ended by a newline like any line a shell prints');
    const parsed = JSON.parse(stdout) as Record<string, unknown>;
    const s = await stats();
    for (const k of ['queued', 'sending', 'sent', 'delivered', 'undelivered', 'expired', 'rejected', 'failed', 'cancelled', 'sent_last_minute', 'delivered_last_minute']) {
      assert.equal(parsed[k], Number(s[k]), k);
    }
    assert.equal(typeof parsed.oldest_queued_age_seconds, 'number');
  });

  test('the default output is a readable table', async () => {
    const { stdout } = await cli([], { DATABASE_URL: tdb.url });
    assert.match(stdout, /^sms-outbox status for postgres:\/\//);
    // "93.4 s" below two minutes, "2 min 3 s" from then on: on a loaded machine the CLI runs
    // (through tsx) can take the age past 120 s since the first test made it 90 s.
    const printed = /\n {2}queued {6}\s*14 {3}oldest due: (?:(\d+\.\d) s|(\d+) min (\d+) s)\n/.exec(stdout);
    assert.ok(printed, stdout);
    const shown = printed[1] !== undefined ? Number(printed[1]) : Number(printed[2]) * 60 + Number(printed[3]);
    // Due 90 s before the previous test looked; the age now is the bound (a loaded machine may
    // take seconds between the two; whole seconds are rounded).
    const { rows } = await tdb.pool.query<{ age: number }>(
      `select extract(epoch from now() - min(o.next_attempt_at))::float8 as age from public.sms_outbox o
        where o.status = 'queued' and o.next_attempt_at <= now() and not exists (select from sms_private.outbox_lease l where l.outbox_id = o.id)`,
    );
    assert.ok(shown >= 90 && shown <= rows[0]!.age + (printed[1] !== undefined ? 0.1 : 0.5), `oldest due ${printed[0]!.trim()}, now ${rows[0]!.age} s`);
    assert.match(stdout, /\n {2}cancelled {3}\s*2\n/);
    assert.match(stdout, /last minute: 8 sent, 4 delivered/);
  });

  test('DATABASE_URL is required', async () => {
    await assert.rejects(cli([], {}), (err: Error & { code?: number; stderr?: string }) => {
      assert.equal(err.code, 78);
      assert.match(err.stderr ?? '', /DATABASE_URL: required/);
      return true;
    });
  });

  test('an unmigrated database is told to run migrate', async () => {
    const empty = await createTestDatabase({ migrated: false });
    try {
      await assert.rejects(cli([], { DATABASE_URL: empty.url }), (err: Error & { code?: number; stderr?: string }) => {
        // 78, like the worker on the same database: the setup must change, a retry will not help.
        assert.equal(err.code, 78);
        assert.match(err.stderr ?? '', /^sms-outbox status: DATABASE_URL \(database "\w+" .*\): the sms-outbox schema is not installed in this database \(no sms_stats view\): run `sms-outbox migrate` \(with the same DATABASE_URL\) first\n$/);
        return true;
      });
    } finally {
      await empty.drop();
    }
  });
});
