/**
 * The Grafana dashboard and the alert rules against a REAL Prometheus: a `prometheus` process of
 * its own (temporary config and storage, a free 127.0.0.1 port, 1 s scrapes, the rules in
 * deploy/prometheus/ loaded) scrapes a real worker process while messages flow through the
 * simulator: deliveries, a bad number, an undeliverable one, throttling, incoming SMS, a dropped
 * connection and a refused bind. Then every panel query of deploy/grafana/ and every alert rule
 * is evaluated through Prometheus's HTTP API: none may error, every panel query must return a
 * number, every series an alert reads must exist, every rule must evaluate healthy, the
 * bind-refused alert must fire, and the receipts-overdue alert must be pending (a message sent
 * while the simulator sends no receipts goes past expires_at plus a grace of 0).
 *
 * Needs the `prometheus` binary (Debian: apt-get install prometheus; its own service is not
 * used). Without it the test is skipped with a notice, unless SMS_TEST_REQUIRE_PROMETHEUS=1
 * (set by .ci/run): then it fails.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/db/embedded.js';
import { STATUS } from '../../src/smpp/command-status.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startWorkerProcess, waitForStatuses, type WorkerProcess } from '../support/worker-process.js';
import { dashboardQueries, type DashboardQuery } from './dashboard.js';
import { probe, ROOT, sleep, waitFor } from './helpers.js';

const ALERTS_FILE = path.join(ROOT, 'deploy/prometheus/sms-outbox-alerts.yml');
/** The job name the alert rules expect (`up{job="sms-outbox"}`). */
const JOB = 'sms-outbox';

function findPrometheus(): string | undefined {
  for (const candidate of ['prometheus', '/usr/bin/prometheus']) {
    const r = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
    if (r.status === 0) return candidate;
  }
  return undefined;
}

const binary = findPrometheus();
const required = process.env.SMS_TEST_REQUIRE_PROMETHEUS === '1';

let tdb: TestDatabase;
let sim: Simulator;
let worker: WorkerProcess;
let prometheus: ChildProcess | undefined;
let prometheusLog = '';
let scratch: string;
let api: string;

interface ApiAnswer<T> {
  status: 'success' | 'error';
  data: T;
  error?: string;
  errorType?: string;
}
type Sample = { metric: Record<string, string>; value: [number, string] };

async function get<T>(pathAndQuery: string): Promise<ApiAnswer<T>> {
  const res = await fetch(`${api}${pathAndQuery}`);
  return (await res.json()) as ApiAnswer<T>;
}

async function query(expr: string): Promise<ApiAnswer<{ resultType: string; result: Sample[] }>> {
  return get(`/api/v1/query?query=${encodeURIComponent(expr)}`);
}

async function send(recipient: string, body: string): Promise<string> {
  const { rows } = await tdb.pool.query<{ id: string }>('select sms_send($1, $2) as id', [recipient, body]);
  return rows[0]!.id;
}

before(async () => {
  if (!binary) return;
  scratch = mkdtempSync(path.join(tmpdir(), 'sms-outbox-prometheus-'));
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'Dashboard', receipt_grace = '0'`);
  sim = await startSimulator({
    receiptDelayMs: 150,
    rejectDestinations: { '79990000404': STATUS.ESME_RINVDSTADR },
    receiptStates: { '79990000500': 'UNDELIV' },
    record: false,
  });
  worker = startWorkerProcess({
    DATABASE_URL: tdb.url,
    SMPP_URL: `smpp://grafana:dashboard@127.0.0.1:${sim.port}`,
    SMPP_TPS: '40',
    SMPP_RECONNECT_MAX_S: '1',
    METRICS_PORT: '0',
    METRICS_HOST: '127.0.0.1',
  });
  const started = await worker.waitForLog(/worker started/);
  const metricsPort = Number(started.metricsPort);
  await waitFor('the worker to be ready', async () => (await probe(metricsPort, '/readyz')).status === 200);

  const port = await freePort();
  api = `http://127.0.0.1:${port}`;
  const config = path.join(scratch, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global: { scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s }',
      `rule_files: [${JSON.stringify(ALERTS_FILE)}]`,
      'scrape_configs:',
      `  - job_name: ${JOB}`,
      `    static_configs: [{ targets: ["127.0.0.1:${metricsPort}"] }]`,
      '',
    ].join('\n'),
  );
  prometheus = spawn(
    binary,
    [`--config.file=${config}`, `--storage.tsdb.path=${path.join(scratch, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  prometheus.stdout!.setEncoding('utf8').on('data', (d: string) => (prometheusLog += d));
  prometheus.stderr!.setEncoding('utf8').on('data', (d: string) => (prometheusLog += d));
  await waitFor('Prometheus to answer', async () => (await fetch(`${api}/-/ready`)).status === 200, 30_000);
  // The Prometheus answering is this test's: its configuration is the file written above.
  const status = await get<{ yaml: string }>('/api/v1/status/config');
  assert.match(status.data.yaml, new RegExp(`127\\.0\\.0\\.1:${metricsPort}`));
});

after(async () => {
  prometheus?.kill('SIGTERM');
  if (prometheus && prometheus.exitCode === null) await new Promise((r) => prometheus!.once('exit', r));
  if (worker) assert.equal(await worker.stop(), 0, 'the worker stops cleanly');
  await sim?.stop();
  await tdb?.drop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** Traffic of every kind the panels show, for `seconds`. */
async function traffic(seconds: number): Promise<void> {
  const ids: string[] = [];
  const end = Date.now() + seconds * 1000;
  let i = 0;
  while (Date.now() < end) {
    i++;
    ids.push(await send(`+7999100${String(i % 10000).padStart(4, '0')}`, `dashboard message ${i}`));
    if (i % 7 === 0) ids.push(await send('+79990000404', `to a bad number ${i}`));
    if (i % 9 === 0) ids.push(await send('+79990000500', `to a phone that is off ${i}`));
    if (i % 5 === 0) sim.sendMo({ source: '79991234567', destination: '1234', text: `incoming ${i}` });
    if (i === 20) sim.configure({ throttleRate: 0.2 });
    if (i === 35) sim.configure({ throttleRate: 0 });
    if (i === 45) {
      // A refused bind (the password "changed" at the SMSC), then accepted again.
      sim.configure({ refuseBinds: STATUS.ESME_RINVPASWD });
      sim.closeConnections();
      await waitFor('a refused bind', async () => worker.logs.some((l) => /SMSC refused the bind/.test(String(l.msg))), 20_000);
      sim.configure({ refuseBinds: null });
    }
    await sleep(100);
  }
  await waitForStatuses(tdb.pool, ids, ['delivered', 'undelivered', 'failed'], 60_000);
  // One message whose receipt never comes: overdue once past expires_at (receipt_grace is 0).
  // It has an hour to be submitted (a 1 s validity could run out first on a busy machine); once
  // sent, the hour passes at once: expires_at is moved a second into the past.
  sim.configure({ receipts: false });
  const { rows } = await tdb.pool.query<{ id: string }>(`select sms_send('+79990000600', 'no receipt for this one', expires_at => now() + interval '1 hour') as id`);
  await waitForStatuses(tdb.pool, [rows[0]!.id], ['sent']);
  await tdb.pool.query(`update sms_outbox set expires_at = now() - interval '1 second' where id = $1`, [rows[0]!.id]);
  sim.configure({ receipts: true });
  await waitFor('the receipt to be overdue', async () => (await tdb.pool.query('select receipt_overdue from sms_status($1)', [rows[0]!.id])).rows[0].receipt_overdue);
}

test('every dashboard query and every alert rule evaluates against a real Prometheus scraping a real worker', async (t) => {
  if (!binary) {
    if (required) assert.fail('SMS_TEST_REQUIRE_PROMETHEUS=1 but no prometheus binary was found (Debian: apt-get install -y prometheus)');
    t.skip('prometheus is not installed (apt-get install -y prometheus); the dashboard and the alert rules were not evaluated');
    return;
  }
  const scrapes = async () => Number((await query(`count_over_time(up{job="${JOB}"}[1m])`)).data?.result?.[0]?.value[1] ?? 0);
  // Counters must be seen before they move: increase() cannot see a series' first step.
  await waitFor('Prometheus to scrape the worker', async () => (await scrapes()) >= 3, 30_000, 200);
  await traffic(15);
  // Enough scrapes after the traffic for every rate window to hold it.
  await waitFor('Prometheus to hold 20 scrapes of the worker', async () => (await scrapes()) >= 20, 60_000, 500);

  // ---- the dashboard: every panel's every query returns numbers (looked at until they all do,
  // or 30 s have passed: then what still fails is reported)
  const queries = dashboardQueries(JSON.parse(readFileSync(path.join(ROOT, 'deploy/grafana/sms-outbox-dashboard.json'), 'utf8')));
  assert.ok(queries.length >= 25, `${queries.length} panel queries`);
  const panelProblems = async (report: boolean) => {
    const problems: string[] = [];
    for (const q of queries) {
      const expr = substitute(q);
      const r = await query(expr);
      const label = `${q.panel} [${q.refId}]`;
      if (r.status !== 'success') {
        problems.push(`${label}: ${r.errorType}: ${r.error}\n    ${expr}`);
        continue;
      }
      const numbers = r.data.result.map((s) => Number(s.value[1])).filter((v) => Number.isFinite(v));
      if (!numbers.length) problems.push(`${label}: returned ${r.data.result.length ? 'only NaN' : 'nothing'}\n    ${expr}`);
      if (report) t.diagnostic(`panel ${label}: ${r.data.result.length} series, e.g. ${numbers[0]}`);
    }
    return problems;
  };
  await waitFor('every panel query to return numbers', async () => (await panelProblems(false)).length === 0, 30_000, 500).catch(() => {});
  const problems = await panelProblems(true);
  assert.deepEqual(problems, [], `panel queries that failed:\n${problems.join('\n')}`);

  // ---- the alert rules: loaded, evaluated healthy, every series they read exists
  const yaml = createRequire(import.meta.url)('js-yaml') as { load(text: string): unknown };
  const file = (yaml.load(readFileSync(ALERTS_FILE, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] }).groups.flatMap((g) => g.rules);
  const loaded = await waitFor(
    'every rule evaluated at least once',
    async () => {
      const r = await get<{ groups: { rules: { name: string; health: string; lastError?: string; lastEvaluation: string }[] }[] }>('/api/v1/rules');
      const rules = r.data.groups.flatMap((g) => g.rules);
      return rules.length === file.length && rules.every((x) => !x.lastEvaluation.startsWith('0001-')) ? rules : undefined;
    },
    30_000,
    500,
  );
  for (const rule of loaded) assert.equal(rule.health, 'ok', `${rule.name}: ${rule.lastError}`);
  for (const rule of file) {
    const r = await query(rule.expr);
    assert.equal(r.status, 'success', `${rule.alert}: ${r.error}`);
    for (const selector of seriesSelectors(rule.expr)) {
      const present = await query(`count(${selector})`);
      assert.equal(present.status, 'success', `${rule.alert}: ${selector}: ${present.error}`);
      assert.ok(present.data.result.length > 0, `${rule.alert}: the series ${selector} it reads does not exist`);
    }
    t.diagnostic(`alert ${rule.alert}: evaluated, ${r.data.result.length} series now; reads ${seriesSelectors(rule.expr).join(', ')}`);
  }

  // The bind refused during the traffic fires its alert (it has no `for`).
  const firing = await waitFor(
    'SmsSmppBindRefused to fire',
    async () => {
      const r = await get<{ alerts: { labels: Record<string, string>; state: string }[] }>('/api/v1/alerts');
      return r.data.alerts.find((a) => a.labels.alertname === 'SmsSmppBindRefused' && a.state === 'firing');
    },
    30_000,
    500,
  );
  assert.equal(firing.labels.status, 'ESME_RINVPASWD');
  assert.equal(firing.labels.severity, 'critical');
  // The message left without a receipt: pending (its `for` is 5 minutes).
  const overdue = await waitFor(
    'SmsReceiptsOverdue to be pending',
    async () => {
      const r = await get<{ alerts: { labels: Record<string, string>; state: string }[] }>('/api/v1/alerts');
      return r.data.alerts.find((a) => a.labels.alertname === 'SmsReceiptsOverdue' && (a.state === 'pending' || a.state === 'firing'));
    },
    30_000,
    500,
  );
  assert.equal(overdue.labels.severity, 'warning');
});

/** The expression as Grafana would send it: the template variables and ranges filled in. */
function substitute(q: DashboardQuery): string {
  return q.expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$__range', '5m')
    .replaceAll('$job', JOB)
    .replaceAll('$instance', '.*');
}

/** The metric selectors an expression reads (`name{matchers}`), without ranges or functions. */
function seriesSelectors(expr: string): string[] {
  return [...new Set([...expr.matchAll(/\b((?:sms|smpp)_[a-z0-9_]+|up)(\{[^}]*\})?(?!\s*\()/g)].map((m) => `${m[1]}${m[2] ?? ''}`))];
}

test('Prometheus logged no error while scraping the worker and evaluating the rules', { skip: !binary }, () => {
  assert.doesNotMatch(prometheusLog, /level=error/, prometheusLog.slice(-3000));
});
