/**
 * The deployment recipes and the operator docs against the code they describe: the systemd
 * unit's stop timeout covers the drain, configuration errors are not restarted, the Dockerfile
 * ships production dependencies as a non-root user under tini, the alert rules and env examples
 * name only what exists, the operations guide covers what an operator does. (That every variable
 * and metric is in the reference: test/docs/reference.test.ts.)
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KNOWN_VARIABLES, loadConfig } from '../../src/config.js';
import { SHUTDOWN_GRACE_MS } from '../../src/cli/worker.js';
import { workerMetricNames } from './metric-names.js';
import { dashboardQueries } from './dashboard.js';
import { ROOT } from './helpers.js';

const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
const metricsPage = read('docs/reference/metrics.md');
const operations = read('docs/guides/operations.md');

/** `KEY=value` settings of a unit file section. */
function unitSection(text: string, name: string): Map<string, string> {
  const body = text.split(/^\[/m).find((s) => s.startsWith(`${name}]`)) ?? '';
  const out = new Map<string, string>();
  for (const line of body.split('\n').slice(1)) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

const seconds = (v: string | undefined) => Number(/^(\d+)s?$/.exec(v ?? '')?.[1] ?? NaN);

describe('systemd', () => {
  const unit = read('deploy/systemd/sms-outbox-worker.service');
  const service = unitSection(unit, 'Service');
  const unitPart = unitSection(unit, 'Unit');

  test('the stop timeout outlasts the longest drain the example configuration allows', () => {
    const env = read('deploy/systemd/worker.env.example');
    const configured = /^SMS_SHUTDOWN_TIMEOUT_S=(\S+)/m.exec(env)?.[1];
    const drainMs = loadConfig(configured ? { SMS_SHUTDOWN_TIMEOUT_S: configured } : {}).worker.shutdownTimeoutMs;
    const stopSec = seconds(service.get('TimeoutStopSec'));
    assert.ok(stopSec * 1000 > drainMs + SHUTDOWN_GRACE_MS, `TimeoutStopSec=${stopSec} s must exceed the drain (${drainMs} ms) plus the exit grace (${SHUTDOWN_GRACE_MS} ms)`);
    assert.equal(service.get('KillSignal'), 'SIGTERM');
    assert.equal(service.get('KillMode'), 'mixed', 'SIGTERM to the worker alone, SIGKILL to everything only at the timeout');
  });

  test('restarts on failure, never on a configuration error, and never gives up', () => {
    assert.equal(service.get('Restart'), 'always');
    assert.ok(seconds(service.get('RestartSec')) >= 1);
    assert.deepEqual(service.get('RestartPreventExitStatus')?.split(/\s+/), ['78']);
    assert.equal(unitPart.get('StartLimitIntervalSec'), '0', 'in [Unit], where systemd reads it');
    assert.ok(!service.has('StartLimitIntervalSec') && !service.has('StartLimitBurst'), '[Service] ignores start limits');
  });

  test('runs the worker as its own user from the environment file', () => {
    assert.equal(service.get('User'), 'sms-outbox');
    assert.equal(service.get('EnvironmentFile'), '/etc/sms-outbox/worker.env');
    assert.match(service.get('ExecStart') ?? '', /^\/usr\/bin\/node \/opt\/sms-outbox\/bin\/sms-outbox\.js worker$/);
    const migrate = unitSection(read('deploy/systemd/sms-outbox-migrate.service'), 'Service');
    assert.equal(migrate.get('Type'), 'oneshot');
    assert.equal(migrate.get('EnvironmentFile'), '/etc/sms-outbox/migrate.env');
    assert.match(migrate.get('ExecStart') ?? '', / migrate$/);
  });

  test('systemd-analyze verify finds nothing to complain about', (t) => {
    const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
    if (probe.status !== 0) return t.skip('systemd-analyze is not installed');
    const dir = mkdtempSync(path.join(tmpdir(), 'sms-outbox-units-'));
    try {
      const units = ['sms-outbox-worker.service', 'sms-outbox-migrate.service'];
      for (const u of units) copyFileSync(path.join(ROOT, 'deploy/systemd', u), path.join(dir, u));
      const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...units], { cwd: dir, encoding: 'utf8' });
      // Only the host can make /usr/bin/node exist; every other remark is about the units.
      const remarks = `${r.stdout}${r.stderr}`
        .split('\n')
        .filter((l) => l.trim() && !/is not executable|No such file or directory|Failed to prepare filename/.test(l));
      assert.deepEqual(remarks, []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the environment examples set only variables sms-outbox reads', () => {
    for (const file of ['deploy/systemd/worker.env.example', 'deploy/systemd/migrate.env.example']) {
      const names = [...read(file).matchAll(/^#?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]!);
      assert.ok(names.length > 0, file);
      for (const n of names) assert.ok(KNOWN_VARIABLES.includes(n), `${file}: ${n} is not read by sms-outbox`);
    }
    const worker = read('deploy/systemd/worker.env.example');
    for (const n of ['DATABASE_URL', 'SMPP_URL', 'SMPP_PASSWORD', 'METRICS_PORT']) assert.match(worker, new RegExp(`^${n}=`, 'm'));
  });

  test('the environment examples read the same under systemd, docker --env-file and kubectl --from-env-file', () => {
    // systemd strips quotes and reads backslashes as escapes; Docker and kubectl take the rest of
    // the line literally. Values without quotes, backslashes or edge spaces mean one thing to all.
    for (const file of ['deploy/systemd/worker.env.example', 'deploy/systemd/migrate.env.example']) {
      for (const line of read(file).split('\n')) {
        const m = /^#?([A-Z][A-Z0-9_]+)=(.*)$/.exec(line);
        if (!m) continue;
        const value = m[2]!;
        assert.doesNotMatch(value, /["'\\]/, `${file}: ${m[1]} has a quote or a backslash`);
        assert.equal(value, value.trim(), `${file}: ${m[1]} has spaces at an edge`);
      }
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('deploy/Dockerfile');
  const stages = dockerfile.split(/^FROM /m).slice(1);

  test('multi-stage: build with dev dependencies, run with production ones only', () => {
    assert.equal(stages.length, 2);
    assert.match(stages[0]!, /^RUN npm ci --ignore-scripts/m);
    assert.match(stages[0]!, /^RUN npm run build$/m);
    const runtime = stages[1]!;
    assert.match(runtime, /^RUN npm ci --omit=dev --ignore-scripts/m);
    assert.match(runtime, /^COPY --from=build \/app\/dist \.\/dist$/m);
    // `sms-outbox migrate` reads the schema from both.
    assert.match(runtime, /^COPY migrations \.\/migrations$/m);
    assert.match(runtime, /^COPY sql \.\/sql$/m);
    assert.doesNotMatch(runtime, /^COPY (src|test)\b/m);
  });

  test('non-root, tini as PID 1, SIGTERM, the worker by default', () => {
    const runtime = stages[1]!;
    const user = [...runtime.matchAll(/^USER (\S+)$/gm)].pop()?.[1];
    assert.ok(user && user !== 'root' && user !== '0', `runs as ${user}`);
    assert.match(runtime, /apt-get install -y --no-install-recommends tini/);
    assert.match(runtime, /^ENTRYPOINT \["\/usr\/bin\/tini", "--", "node", "\/app\/bin\/sms-outbox\.js"\]$/m);
    assert.match(runtime, /^CMD \["worker"\]$/m);
    assert.match(runtime, /^STOPSIGNAL SIGTERM$/m);
    assert.match(runtime, /^ENV METRICS_PORT=9464$/m);
  });

  test('runs a Node.js line that CI tests, and refuses dependencies that do not support it', () => {
    const image = /^ARG NODE_IMAGE=node:(\d+)-/m.exec(dockerfile)?.[1];
    const ciLines = /^EXTRA_NODES=\$\{CI_EXTRA_NODES-([\d ]+)\}$/m.exec(read('.ci/run'))?.[1]?.split(' ') ?? [];
    assert.ok(image && ciLines.includes(image), `the image's Node ${image} is one that .ci/run tests (${ciLines.join(', ')})`);
    assert.equal(stages.filter((s) => s.startsWith('${NODE_IMAGE}')).length, 2, 'both stages on the same image');
    for (const stage of stages) assert.match(stage, /^RUN npm ci [^\n]*--engine-strict/m);
  });

  test('the build context leaves out what the image must not carry', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim());
    for (const entry of ['node_modules', 'dist', '.git']) assert.ok(ignored.includes(entry), entry);
  });
});

describe('Kubernetes and Prometheus', () => {
  const yaml = (() => {
    try {
      // js-yaml comes with graphile-worker (through cosmiconfig); no dependency of our own.
      return createRequire(import.meta.url)('js-yaml') as { load(text: string): unknown };
    } catch {
      return undefined;
    }
  })();

  test('the Deployment replaces its pod, outlasts the drain, probes the right paths', (t) => {
    if (!yaml) return t.skip('js-yaml is not installed');
    const d = yaml.load(read('deploy/kubernetes/sms-outbox-worker.yaml')) as {
      spec: { replicas: number; strategy: { type: string }; template: { spec: Record<string, unknown> } };
    };
    assert.equal(d.spec.replicas, 1);
    assert.equal(d.spec.strategy.type, 'Recreate');
    const pod = d.spec.template.spec as { terminationGracePeriodSeconds: number; containers: Record<string, unknown>[] };
    assert.ok(pod.terminationGracePeriodSeconds * 1000 > loadConfig({}).worker.shutdownTimeoutMs + SHUTDOWN_GRACE_MS);
    const c = pod.containers[0] as {
      args: string[];
      livenessProbe: { httpGet: { path: string } };
      readinessProbe: { httpGet: { path: string } };
      env: { name: string }[];
    };
    assert.deepEqual(c.args, ['worker']);
    assert.equal((c as { imagePullPolicy?: string }).imagePullPolicy, 'IfNotPresent', 'a locally built sms-outbox:latest must start');
    assert.equal(c.livenessProbe.httpGet.path, '/healthz');
    assert.equal(c.readinessProbe.httpGet.path, '/readyz');
    for (const e of c.env) assert.ok(KNOWN_VARIABLES.includes(e.name) || e.name === 'NODE_OPTIONS', e.name);
  });

  test('the migrate Job runs `migrate` with the same image, once, and gives up on a configuration error', (t) => {
    if (!yaml) return t.skip('js-yaml is not installed');
    const job = yaml.load(read('deploy/kubernetes/sms-outbox-migrate.yaml')) as {
      kind: string;
      spec: {
        backoffLimit: number;
        podFailurePolicy: { rules: { action: string; onExitCodes: { operator: string; values: number[] } }[] };
        template: { spec: { restartPolicy: string; containers: { image: string; imagePullPolicy: string; args: string[]; envFrom: { secretRef: { name: string } }[] }[] } };
      };
    };
    const deployment = yaml.load(read('deploy/kubernetes/sms-outbox-worker.yaml')) as { spec: { template: { spec: { containers: { image: string }[] } } } };
    assert.equal(job.kind, 'Job');
    assert.equal(job.spec.template.spec.restartPolicy, 'Never', 'podFailurePolicy needs restartPolicy Never');
    const [c] = job.spec.template.spec.containers;
    assert.deepEqual(c!.args, ['migrate']);
    assert.equal(c!.image, deployment.spec.template.spec.containers[0]!.image);
    assert.equal(c!.imagePullPolicy, 'IfNotPresent');
    assert.equal(c!.envFrom[0]!.secretRef.name, 'sms-outbox-migrate');
    assert.ok(job.spec.podFailurePolicy.rules.some((r) => r.action === 'FailJob' && r.onExitCodes.operator === 'In' && r.onExitCodes.values.includes(78)));
    assert.ok(job.spec.backoffLimit >= 1, 'an unreachable database (69) is retried');
  });

  test('every alert rule is complete and names only metrics the worker exports', (t) => {
    if (!yaml) return t.skip('js-yaml is not installed');
    const known = new Set(workerMetricNames());
    const rules = (yaml.load(read('deploy/prometheus/sms-outbox-alerts.yml')) as { groups: { rules: Record<string, unknown>[] }[] }).groups.flatMap((g) => g.rules);
    assert.ok(rules.length >= 8);
    for (const r of rules) {
      const rule = r as { alert: string; expr: string; labels: { severity: string }; annotations: { summary: string; description: string } };
      assert.match(rule.alert, /^[A-Z][A-Za-z]+$/);
      assert.ok(['critical', 'warning'].includes(rule.labels.severity), rule.alert);
      assert.ok(rule.annotations.summary && rule.annotations.description, rule.alert);
      for (const [name] of String(rule.expr).matchAll(/\b(?:sms|smpp)_[a-z_]+\b/g)) {
        assert.ok(known.has(name.replace(/_(bucket|count|sum)$/, '')), `${rule.alert}: unknown metric ${name}`);
      }
    }
    for (const needed of ['sms_oldest_queued_age_seconds', 'sms_unmatched_receipts', 'smpp_session_bound', 'smpp_reconnects_total', 'sms_messages_total']) {
      assert.ok(rules.some((r) => String(r.expr).includes(needed)), `an alert on ${needed}`);
    }
  });
});

describe('Grafana dashboard', () => {
  const dashboard = JSON.parse(read('deploy/grafana/sms-outbox-dashboard.json')) as {
    uid: string;
    panels: { id: number; type: string; title: string; datasource?: { uid: string }; gridPos: { w: number; h: number; x: number; y: number }; targets?: { expr: string }[] }[];
    templating: { list: { name: string; type: string }[] };
  };

  test('is importable: unique ids, a layout, the data source as a variable', () => {
    assert.equal(dashboard.uid, 'sms-outbox');
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'unique panel ids');
    for (const p of dashboard.panels) {
      assert.ok(p.gridPos.w > 0 && p.gridPos.w <= 24 && p.gridPos.x + p.gridPos.w <= 24, `${p.title}: gridPos`);
      if (p.type !== 'row') assert.equal(p.datasource?.uid, '${datasource}', `${p.title}: the data source variable`);
    }
    assert.deepEqual(dashboard.templating.list.map((v) => `${v.name}:${v.type}`), ['datasource:datasource', 'job:query', 'instance:query']);
  });

  test('every query reads only metrics the worker exports, filtered by the job and worker variables', () => {
    const known = new Set(workerMetricNames());
    const queries = dashboardQueries(dashboard);
    for (const q of queries) {
      for (const [name] of q.expr.matchAll(/\b(?:sms|smpp)_[a-z0-9_]+\b/g)) {
        assert.ok(known.has(name.replace(/_(bucket|count|sum)$/, '')), `${q.panel}: unknown metric ${name}`);
      }
      for (const selector of q.expr.match(/\b[a-z_:]+\{[^}]*\}/g) ?? []) {
        assert.match(selector, /job=~"\$job", instance=~"\$instance"/, `${q.panel}: ${selector}`);
      }
    }
  });

  test('has the panels operators look for', () => {
    const byTitle = new Map(dashboard.panels.map((p) => [p.title, (p.targets ?? []).map((t) => t.expr).join('\n')]));
    const wanted: Record<string, RegExp> = {
      'Queue depth by status': /sms_queue_depth[\s\S]*sms_sending_messages[\s\S]*sms_awaiting_receipt_messages/,
      'Oldest due message': /sms_oldest_queued_age_seconds/,
      'Submit rate vs the TPS cap': /rate\(smpp_submit_sm_total[\s\S]*smpp_tps_limit/,
      'submit_sm results by command_status': /sum by \(status\) \(rate\(smpp_submit_sm_total/,
      'Receipt latency': /sms_submit_to_receipt_seconds_bucket/,
      'Delivery ratio': /status="delivered"[\s\S]*status=~"delivered\|undelivered\|expired\|rejected\|failed"/,
      'Session bound': /smpp_session_bound/,
      'Reconnects and refused binds': /smpp_reconnects_total[\s\S]*smpp_bind_failures_total/,
      'Inbound rate': /sms_inbox_messages_total/,
      'Group-commit retries': /sms_write_retries_total/,
    };
    for (const [title, expr] of Object.entries(wanted)) assert.match(byTitle.get(title) ?? '', expr, title);
  });
});

describe('the operator docs', () => {
  test('the operations guide covers password rotation, draining and duplicates; the metrics page the alerts', () => {
    for (const heading of ['## Rotating the SMPP password', '## Draining a worker before a deploy', '## Duplicates: what can repeat, and when']) {
      assert.ok(operations.includes(`\n${heading}\n`), heading);
    }
    assert.ok(metricsPage.includes('\n## Alerts worth setting\n'));
  });

  test('the unit file installs with the same npm ci as the production guide', () => {
    const unitLine = /^#\s+(npm ci --omit=dev[^\n]*)$/m.exec(read('deploy/systemd/sms-outbox-worker.service'))?.[1];
    const guideLine = /&& (npm ci --omit=dev[^\n]*)$/m.exec(read('docs/guides/production.md'))?.[1];
    assert.ok(unitLine && guideLine, 'both name their npm ci');
    assert.equal(unitLine, guideLine);
  });
});
