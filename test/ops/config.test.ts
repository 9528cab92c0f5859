/**
 * The configuration in-process: defaults, every bad value named with its expected form, secrets
 * never echoed, typos warned about.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { configWarnings, KNOWN_VARIABLES, loadConfig } from '../../src/config.js';
import { describeDatabase, explainDatabaseError } from '../../src/db/connect.js';
import { ConfigError } from '../../src/errors.js';
import { maskSecretUrl, redactSecrets } from '../../src/secrets.js';

const BASE = { DATABASE_URL: 'postgres://app:Db-Pw-123@db.internal:5432/app', SMPP_URL: 'smpp://acme:Smpp-Pw-456@smpp.example.net:2775' };

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${err}`);
    assert.equal(err.exitCode, 78);
    return err.problems;
  }
  assert.fail(`no error for ${JSON.stringify(env)}`);
}

describe('defaults', () => {
  test('the documented defaults apply when only the URLs are set', () => {
    const c = loadConfig(BASE);
    assert.equal(c.databaseUrl, BASE.DATABASE_URL);
    assert.deepEqual(
      { ...c.smpp, displayUrl: c.smpp!.displayUrl },
      {
        displayUrl: 'smpp://acme@smpp.example.net:2775',
        host: 'smpp.example.net',
        port: 2775,
        tls: false,
        tlsVerify: true,
        systemId: 'acme',
        password: 'Smpp-Pw-456',
        systemType: '',
        bindMode: 'transceiver',
        window: 10,
        binds: 1,
        inboundWindow: 1000,
        tps: 0,
        enquireLinkSeconds: 30,
        responseTimeoutMs: 10_000,
        reconnectMaxMs: 60_000,
        validityPeriod: true,
      },
    );
    assert.equal(c.worker.leaseSeconds, 15);
    assert.equal(c.worker.shutdownTimeoutMs, 20_000);
    assert.equal(c.worker.retentionDays, 30);
    assert.equal(c.worker.inboxRetentionDays, 90);
    assert.equal(c.worker.unmatchedReceiptRetentionDays, 7);
    assert.equal(c.log.level, 'info');
    assert.equal(c.metricsPort, undefined, 'no metrics server unless METRICS_PORT is set');
    assert.equal(c.metricsHost, '0.0.0.0');
  });

  test('smpps:// is TLS, the port defaults to 2775, SMPP_PASSWORD overrides the URL password', () => {
    const c = loadConfig({ SMPP_URL: 'smpps://acme@smpp.example.net', SMPP_PASSWORD: 'from-env' });
    assert.equal(c.smpp!.tls, true);
    assert.equal(c.smpp!.port, 2775);
    assert.equal(c.smpp!.password, 'from-env');
    assert.equal(loadConfig({ SMPP_URL: 'smpp://acme:in-url@h:1', SMPP_PASSWORD: 'wins' }).smpp!.password, 'wins');
    assert.equal(loadConfig({ SMPP_URL: 'smpp://acme:p%23ss%40word@h:1' }).smpp!.password, 'p#ss@word', 'percent-escapes are decoded');
  });

  test('every value is read, trimmed and case-folded where that is harmless', () => {
    const c = loadConfig({
      ...BASE,
      SMPP_WINDOW: ' 50 ',
      SMPP_TPS: '12.5',
      SMPP_ENQUIRE_LINK_S: '840',
      SMPP_BIND_MODE: 'Transmitter',
      SMPP_SYSTEM_TYPE: 'SMPP',
      SMPP_RESPONSE_TIMEOUT_S: '2.5',
      SMPP_RECONNECT_MAX_S: '5',
      SMPP_TLS_INSECURE: 'yes',
      SMPP_VALIDITY_PERIOD: ' OFF ',
      SMS_LEASE_S: '30',
      SMS_MAX_UNCOMMITTED: ' 70 ',
      SMS_SHUTDOWN_TIMEOUT_S: '45',
      SMS_WORKER_ID: 'w1',
      LOG_LEVEL: 'DEBUG',
      METRICS_PORT: '0',
      METRICS_HOST: '127.0.0.1',
    });
    assert.equal(c.smpp!.window, 50);
    assert.equal(c.smpp!.tps, 12.5);
    assert.equal(c.smpp!.enquireLinkSeconds, 840);
    assert.equal(c.smpp!.bindMode, 'transmitter');
    assert.equal(c.smpp!.systemType, 'SMPP');
    assert.equal(c.smpp!.responseTimeoutMs, 2500);
    assert.equal(c.smpp!.reconnectMaxMs, 5000);
    assert.equal(c.smpp!.tlsVerify, false);
    assert.equal(c.smpp!.validityPeriod, false);
    assert.equal(c.worker.leaseSeconds, 30);
    assert.equal(c.worker.maxUncommitted, 70);
    assert.equal(loadConfig({ ...BASE, SMPP_WINDOW: '50' }).worker.maxUncommitted, 100, 'twice the window by default');
    assert.equal(loadConfig(BASE).worker.maxUncommitted, 20);
    const binds = loadConfig({ ...BASE, SMPP_WINDOW: '50', SMPP_BINDS: '3' });
    assert.equal(binds.smpp!.binds, 3);
    assert.equal(binds.worker.maxUncommitted, 300, 'twice every bind\'s window by default');
    assert.equal(c.worker.shutdownTimeoutMs, 45_000);
    assert.equal(c.worker.workerId, 'w1');
    assert.equal(c.log.level, 'debug');
    assert.equal(c.metricsPort, 0);
    assert.equal(c.metricsHost, '127.0.0.1');
  });
});

describe('bad values are named with the expected form', () => {
  const cases: [string, Record<string, string>, RegExp][] = [
    ['non-numeric window', { SMPP_WINDOW: 'abc' }, /^SMPP_WINDOW: expected an integer from 1 to 1000 .*got "abc"$/],
    ['zero window', { SMPP_WINDOW: '0' }, /^SMPP_WINDOW: expected an integer from 1 to 1000/],
    ['fractional window', { SMPP_WINDOW: '2.5' }, /^SMPP_WINDOW: /],
    ['TPS below zero', { SMPP_TPS: '-1' }, /^SMPP_TPS: expected a number of submit_sm per second, 0 \(unlimited\) or more, got "-1"$/],
    ['TPS not a number', { SMPP_TPS: 'fast' }, /^SMPP_TPS: .*got "fast"$/],
    ['unknown bind mode', { SMPP_BIND_MODE: 'trx' }, /^SMPP_BIND_MODE: expected transceiver \(the default\) or transmitter, got "trx"$/],
    ['receiver bind (cannot send)', { SMPP_BIND_MODE: 'receiver' }, /^SMPP_BIND_MODE: .*a receiver session cannot submit/],
    ['enquire_link past the carrier cut-off', { SMPP_ENQUIRE_LINK_S: '900' }, /^SMPP_ENQUIRE_LINK_S: expected whole seconds from 1 to 840 \(MTS Exolve drops a session without enquire_link for 15 minutes\), got "900"$/],
    ['system_type too long', { SMPP_SYSTEM_TYPE: 'x'.repeat(13) }, /^SMPP_SYSTEM_TYPE: expected at most 12 characters/],
    ['response timeout 0', { SMPP_RESPONSE_TIMEOUT_S: '0' }, /^SMPP_RESPONSE_TIMEOUT_S: expected seconds from 0.1 to 300/],
    ['uncommitted bound not a number', { SMS_MAX_UNCOMMITTED: 'many' }, /^SMS_MAX_UNCOMMITTED: expected an integer from 1 to 100000 \(messages submitted whose outcome is not yet committed\), got "many"$/],
    ['uncommitted bound below the window', { SMPP_WINDOW: '50', SMS_MAX_UNCOMMITTED: '20' }, /^SMS_MAX_UNCOMMITTED: expected at least SMPP_WINDOW \(50\): the submit_sm awaiting their response count too, .*got "20"$/],
    ['uncommitted bound below the windows of every bind', { SMPP_WINDOW: '10', SMPP_BINDS: '4', SMS_MAX_UNCOMMITTED: '30' }, /^SMS_MAX_UNCOMMITTED: expected at least SMPP_WINDOW x SMPP_BINDS \(40\): .*got "30"$/],
    ['binds 0', { SMPP_BINDS: '0' }, /^SMPP_BINDS: expected an integer from 1 to 32 \(SMPP sessions per worker\), got "0"$/],
    ['lease too short', { SMS_LEASE_S: '1' }, /^SMS_LEASE_S: expected whole seconds from 2 to 3600/],
    ['shutdown timeout too long', { SMS_SHUTDOWN_TIMEOUT_S: '601' }, /^SMS_SHUTDOWN_TIMEOUT_S: expected seconds from 1 to 600/],
    ['retention 0', { SMS_RETENTION_DAYS: '0' }, /^SMS_RETENTION_DAYS: expected whole days/],
    ['max segments 256', { SMS_MAX_SEGMENTS: '256' }, /^SMS_MAX_SEGMENTS: expected an integer from 1 to 255/],
    ['log level', { LOG_LEVEL: 'verbose' }, /^LOG_LEVEL: expected fatal, error, warn, info, debug, trace or silent, got "verbose"$/],
    ['boolean', { SMPP_TLS_INSECURE: 'maybe' }, /^SMPP_TLS_INSECURE: expected 1\/0, true\/false or yes\/no/],
    ['validity_period switch', { SMPP_VALIDITY_PERIOD: 'sometimes' }, /^SMPP_VALIDITY_PERIOD: expected on \(the default\) or off, got "sometimes"$/],
    ['metrics port out of range', { METRICS_PORT: '70000' }, /^METRICS_PORT: expected a TCP port from 1 to 65535/],
    ['metrics port not a number', { METRICS_PORT: 'http' }, /^METRICS_PORT: .*got "http"$/],
    ['metrics host with a scheme', { METRICS_HOST: 'http://0.0.0.0' }, /^METRICS_HOST: expected an address to listen on/],
    ['inbound window 0', { SMPP_INBOUND_WINDOW: '0' }, /^SMPP_INBOUND_WINDOW: expected an integer from 1 to 100000 \(deliver_sm held unanswered\), got "0"$/],
  ];
  for (const [what, env, expected] of cases) {
    test(what, () => {
      const p = problems({ ...BASE, ...env });
      assert.equal(p.length, 1, p.join('\n'));
      assert.match(p[0]!, expected);
    });
  }

  test('every bad variable is listed at once', () => {
    const p = problems({ ...BASE, SMPP_WINDOW: 'abc', SMPP_TPS: '-1', SMPP_BIND_MODE: 'x', SMPP_URL: 'smpp://nohost' });
    assert.deepEqual(p.map((l) => l.split(':')[0]).sort(), ['SMPP_BIND_MODE', 'SMPP_TPS', 'SMPP_URL', 'SMPP_WINDOW']);
  });

  test('one problem is one line; several are one line each', () => {
    try {
      loadConfig({ ...BASE, SMPP_WINDOW: 'abc' });
      assert.fail('no error');
    } catch (err) {
      assert.equal((err as Error).message, 'invalid configuration: SMPP_WINDOW: expected an integer from 1 to 1000 (outstanding submit_sm), got "abc"');
    }
  });
});

describe('SMPP_URL and DATABASE_URL', () => {
  const bad: [string, string, RegExp][] = [
    ['wrong scheme', 'http://acme:Smpp-Pw-456@h:2775', /the scheme is "http"/],
    ['no scheme', 'acme:Smpp-Pw-456@h:2775', /expected smpp:\/\//],
    ['no host', 'smpp://', /not a valid URL|the host is missing/],
    ['no system_id', 'smpp://:Smpp-Pw-456@h:2775', /the system_id \(user name\) is missing/],
    ['system_id too long', 'smpp://abcdefghijklmnop:Smpp-Pw-456@h', /at most 15 characters/],
    ['no password anywhere', 'smpp://acme@h:2775', /no password: put it in the URL or in SMPP_PASSWORD/],
    ['port 0', 'smpp://acme:Smpp-Pw-456@h:0', /the port must be from 1 to 65535/],
    ['port out of range', 'smpp://acme:Smpp-Pw-456@h:99999', /not a valid URL/],
    ['an unescaped # in the password', 'smpp://acme:Smpp#Pw-456@h:2775', /percent-encode special characters in the password, e\.g\. # as %23/],
    ['a path', 'smpp://acme:Smpp-Pw-456@h:2775/x', /unexpected "\/x" after host:port/],
    ['text', 'not a url at all', /not a valid URL/],
  ];
  for (const [what, url, expected] of bad) {
    test(`malformed SMPP_URL: ${what}`, () => {
      const p = problems({ SMPP_URL: url });
      assert.equal(p.length, 1);
      assert.match(p[0]!, /^SMPP_URL: expected smpp:\/\/system_id:password@host:port \(or smpps:\/\/ for TLS\)/);
      assert.match(p[0]!, expected);
      assert.doesNotMatch(p[0]!, /Smpp-Pw-456|Pw-456/, 'the password is never shown');
    });
  }

  test('a bad SMPP_URL never shows SMPP_PASSWORD', () => {
    const p = problems({ SMPP_URL: 'smpp://', SMPP_PASSWORD: 'Env-Secret-789' });
    assert.doesNotMatch(p.join('\n'), /Env-Secret-789/);
  });

  test('a malformed DATABASE_URL is named, its password masked', () => {
    for (const url of ['mysql://app:Db-Pw-123@h/app', 'postgres://app:Db-Pw-123@h:notaport/app', 'postgres://app:Db#Pw-123@h/app']) {
      const p = problems({ DATABASE_URL: url });
      assert.equal(p.length, 1, url);
      assert.match(p[0]!, /^DATABASE_URL: expected postgres:\/\/user:password@host:port\/database/);
      assert.doesNotMatch(p[0]!, /Db-Pw-123|Pw-123/);
    }
  });

  test('a DATABASE_URL in libpq keyword=value form is refused with its password masked', () => {
    const forms: [string, string][] = [
      ['host=db.internal port=5432 dbname=app user=app password=Kw-Secret-771', 'Kw-Secret-771'],
      ["host=db.internal password='Kw-Secret-771 with spaces' user=app", 'Kw-Secret-771 with spaces'],
      ['user=app password = Kw-Secret-771', 'Kw-Secret-771'],
    ];
    for (const [url, password] of forms) {
      const p = problems({ DATABASE_URL: url });
      assert.equal(p.length, 1, p.join('\n'));
      assert.match(p[0]!, /^DATABASE_URL: expected postgres:\/\/user:password@host:port\/database; this is the keyword=value form/);
      assert.match(p[0]!, /password ?= ?\*\*\*/);
      assert.doesNotMatch(p[0]!, /Kw-Secret-771/);
      assert.equal(redactSecrets(`the password was ${password}.`, { DATABASE_URL: url }), 'the password was ***.');
    }
  });

  test('maskSecretUrl hides the password of parseable and unparseable URLs', () => {
    assert.equal(maskSecretUrl('postgres://app@h/db?sslmode=require&password=Q-Pw-99'), 'postgres://app@h/db?sslmode=require&password=***');
    assert.equal(maskSecretUrl("host=h password='a \\' b' sslpassword=c user=u"), 'host=h password=*** sslpassword=*** user=u');
    assert.equal(maskSecretUrl('smpp://acme:Smpp-Pw-456@h:2775'), 'smpp://acme:***@h:2775');
    assert.equal(maskSecretUrl('postgres://app:a%40b@h/db'), 'postgres://app:***@h/db');
    assert.equal(maskSecretUrl('smpp://acme:p#ss@h:2775'), 'smpp://***@h:2775');
    assert.equal(maskSecretUrl('smpp://acme:p@ss@h:x'), 'smpp://***@h:x');
    assert.equal(maskSecretUrl('smpp://h:2775'), 'smpp://h:2775');
  });

  test('describeDatabase names the database, host and user, never the password', () => {
    assert.equal(describeDatabase('postgres://app:Db-Pw-123@db.internal:6432/sms'), 'database "sms" on db.internal:6432 as "app"');
    assert.equal(describeDatabase('postgres:///sms?host=/var/run/postgresql'), 'database "sms" on /var/run/postgresql');
  });

  test('connection errors: 78 when the configuration must change, 69 when Postgres may come back', () => {
    const url = 'postgres://app:Db-Pw-123@db.internal:5432/sms';
    const refused = explainDatabaseError(Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:5432'), { code: 'ECONNREFUSED' }), url);
    assert.equal(refused.exitCode, 69);
    assert.match(refused.message, /^DATABASE_URL \(database "sms" on db\.internal:5432 as "app"\): cannot connect: .*is Postgres running/);
    const auth = explainDatabaseError(Object.assign(new Error('password authentication failed for user "app"'), { code: '28P01' }), url);
    assert.equal(auth.exitCode, 78);
    assert.match(auth.message, /\[28P01\]: check the user name and password in DATABASE_URL/);
    const noDb = explainDatabaseError(Object.assign(new Error('database "sms" does not exist'), { code: '3D000' }), url);
    assert.equal(noDb.exitCode, 78);
    const starting = explainDatabaseError(Object.assign(new Error('the database system is starting up'), { code: '57P03' }), url);
    assert.equal(starting.exitCode, 69);
    for (const e of [refused, auth, noDb, starting]) assert.doesNotMatch(e.message, /Db-Pw-123/);
  });
});

describe('secrets and typos', () => {
  test('redactSecrets removes the SMPP and database passwords, raw and percent-encoded', () => {
    const env = {
      DATABASE_URL: 'postgres://app:d%40tabase-pw@h/app',
      SMPP_URL: 'smpp://acme:url-pw-1@h:2775',
      SMPP_PASSWORD: 'env-pw-2',
    };
    const text = 'a d@tabase-pw and d%40tabase-pw, url-pw-1, env-pw-2; ok';
    assert.equal(redactSecrets(text, env), 'a *** and ***, ***, ***; ok');
    assert.equal(redactSecrets('smpp://acme:p#ss1@h', { SMPP_URL: 'smpp://acme:p#ss1@h' }), 'smpp://acme:***@h', 'unparseable URLs too');
    assert.equal(redactSecrets('pw: Q-Pw-99.', { DATABASE_URL: 'postgres://app@h/db?password=Q-Pw-99' }), 'pw: ***.', 'a password in the query');
    assert.equal(redactSecrets("pw: it's, a b.", { DATABASE_URL: "host=h password='it\\'s' sslpassword='a b'" }), 'pw: ***, ***.', 'keyword=value values, quoted');
  });

  test('variables that look like ours but are not read are warned about, with a suggestion', () => {
    const w = configWarnings({ SMPP_WINDOWS: '5', METRIC_PORT: '9464', SMS_RETENTION: '5', SMS_TEST_TEMPLATE: 'x', HOME: '/root', PATH: '/bin' });
    assert.deepEqual(w, [
      'METRIC_PORT is set but not read by sms-outbox; did you mean METRICS_PORT?',
      'SMPP_WINDOWS is set but not read by sms-outbox; did you mean SMPP_WINDOW?',
      'SMS_RETENTION is set but not read by sms-outbox (docs/reference/configuration.md lists every variable)',
    ]);
  });

  test('a transmitter bind and an unverified TLS certificate are warned about', () => {
    const env = { SMPP_URL: 'smpps://acme:pw@h', SMPP_BIND_MODE: 'transmitter', SMPP_TLS_INSECURE: '1' };
    const w = configWarnings(env, loadConfig(env));
    assert.equal(w.length, 2);
    assert.match(w[0]!, /^SMPP_BIND_MODE=transmitter: delivery receipts and incoming SMS never arrive/);
    assert.match(w[1]!, /^SMPP_TLS_INSECURE is on/);
  });

  test('the contract variables are all read', () => {
    for (const name of [
      'DATABASE_URL',
      'SMPP_URL',
      'SMPP_PASSWORD',
      'SMPP_SYSTEM_TYPE',
      'SMPP_WINDOW',
      'SMPP_TPS',
      'SMPP_ENQUIRE_LINK_S',
      'SMS_DEFAULT_SENDER',
      'LOG_LEVEL',
      'METRICS_PORT',
    ]) {
      assert.ok(KNOWN_VARIABLES.includes(name), name);
    }
  });
});
