/**
 * The simulator's control port: a small HTTP API on 127.0.0.1 for trying things by hand (curl)
 * and for scripts, next to the SMPP port of `sms-outbox simulator --control-port N` and
 * `sms-outbox dev`.
 *
 *   GET  /            the endpoints, as JSON
 *   GET  /state       connections and binds, counters, receipt and fault settings
 *   GET  /submits     the last submit_sm received (?limit=N, newest last)
 *   POST /mo          {"from", "to", "text", "lose_ack"?}: an incoming SMS to the bound worker (long
 *                     texts in concatenated parts; GSM-7 when every character allows it, else
 *                     UCS-2); with "lose_ack": true the worker's first answer to each part is taken
 *                     as lost, so the SMS comes again after a reconnect (or the deliver timeout)
 *   POST /auto-reply  {"number", "text"}: an auto-responder: every message accepted for that
 *                     number is answered with an MO of that text from it ("text": null removes it)
 *   POST /receipt     {"message_id", "state"?, "err"?}: a delivery receipt for an SMSC message id
 *   POST /disconnect  {"how"?: "close" | "unbind"}: drop the connections (or unbind from the SMSC side)
 *   POST /fail-next   {"command_status", "count"?}: answer the next submit_sm with this error
 *   POST /config      {"receipts"?, "receipt_delay_ms"?, "response_delay_ms"?, "throttle_rate"?, "refuse_binds"?, "refuse_validity_period"?}
 *
 * Answers are JSON. A bad request is 400 naming the field; /mo and /receipt are 409 while no
 * session that takes deliver_sm is bound. /mo and /receipt wait (up to `ackTimeoutMs`) for the
 * worker's deliver_sm_resp and report its command_status, so when curl returns, a stored SMS is
 * already in sms_inbox.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../logger.js';
import { classifyStatus, statusCode } from '../smpp/command-status.js';
import { normalizeReceiptState, RECEIPT_STATES } from '../smpp/receipt-state.js';
import { MAX_PARTS, splitMessage } from '../smpp/split.js';
import type { Simulator } from './simulator.js';

export interface ControlServer {
  host: string;
  port: number;
  close(): Promise<void>;
}

export interface ControlOptions {
  /** 0 picks a free port. */
  port: number;
  /** How long /mo and /receipt wait for the deliver_sm_resp (default 10 s). */
  ackTimeoutMs?: number;
  logger?: Logger;
}

/** The control port listens here only: it can inject traffic, so it is never reachable from elsewhere. */
export const CONTROL_HOST = '127.0.0.1';

const MAX_BODY_BYTES = 256 * 1024;

/** Receipt states the simulator can send (SMPP 3.4 message_state names). */

const ENDPOINTS: Record<string, string> = {
  'GET /state': 'connections, binds, counters, receipt and fault settings',
  'GET /submits?limit=N': 'the last submit_sm received, newest last',
  'POST /mo': '{"from": "+79991234567", "to": "1234", "text": "...", "lose_ack": false}: an incoming SMS to the bound worker (lose_ack: its first answer is taken as lost, so it comes again)',
  'POST /auto-reply': '{"number": "+79991234567", "text": "I am away"}: that number answers every message it gets with this text (null: no longer)',
  'POST /receipt': '{"message_id": "3B9ACA00", "state": "UNDELIV", "err": "001"}: a delivery receipt for an SMSC message id',
  'POST /disconnect': '{"how": "close" | "unbind"}: drop the SMPP connections (default close)',
  'POST /fail-next': '{"command_status": "ESME_RINVDSTADR", "count": 1}: answer the next submit_sm with this error',
  'POST /config': '{"receipts": true, "receipt_delay_ms": 100, "response_delay_ms": 0, "throttle_rate": 0, "refuse_binds": null, "refuse_validity_period": false}',
};

/** A request the client must fix: the status code and a message naming what was wrong. */
class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

const bad = (field: string, expected: string, got: unknown) =>
  new RequestError(400, `${field}: expected ${expected}, got ${got === undefined ? 'nothing' : JSON.stringify(got)}`, field);

export async function startControlServer(sim: Simulator, options: ControlOptions): Promise<ControlServer> {
  const ackTimeoutMs = options.ackTimeoutMs ?? 10_000;
  const log = options.logger;

  const routes: Record<string, (req: IncomingMessage, url: URL) => Promise<[number, unknown]>> = {
    'GET /': async () => [200, { endpoints: ENDPOINTS }],
    'GET /state': async () => [200, state(sim)],
    'GET /submits': async (_req, url) => {
      const raw = url.searchParams.get('limit');
      const limit = raw === null ? 20 : Number(raw);
      if (!Number.isInteger(limit) || limit < 1) throw bad('limit', 'a whole number of 1 or more', raw);
      return [200, { submits: sim.recentSubmits().slice(-limit).map(showSubmit) }];
    },
    'POST /mo': async (req) => {
      const body = await readObject(req, ['from', 'to', 'text', 'lose_ack']);
      const from = address(body, 'from');
      const to = address(body, 'to');
      if (typeof body.text !== 'string' || body.text.length === 0) throw bad('text', 'a non-empty string', body.text);
      if (body.lose_ack !== undefined && typeof body.lose_ack !== 'boolean') throw bad('lose_ack', 'true or false', body.lose_ack);
      const { encoding, partTexts } = splitMessage(body.text);
      if (partTexts.length > MAX_PARTS) throw new RequestError(400, `text: needs ${partTexts.length} parts; one concatenated SMS has at most ${MAX_PARTS}`, 'text');
      requireReceiver(sim);
      const answers = partTexts.map(() => deferred<number>());
      const { ref, total } = sim.sendMo({
        source: from,
        destination: to,
        text: body.text,
        ...(partTexts.length > 1 ? { concat: {} } : {}),
        ...(body.lose_ack ? { loseAcks: 1 } : {}),
        onResponse: (seq, status) => answers[seq - 1]?.resolve(status),
      });
      const acks = await settle(answers, ackTimeoutMs);
      return [
        acks ? 200 : 202,
        {
          parts: total,
          encoding,
          data_coding: encoding === 'gsm7' ? 0 : 8,
          ...(total > 1 ? { reference: ref } : {}),
          acknowledged: acks ? acks.map((code, i) => ({ part: i + 1, command_status: classifyStatus(code).name })) : null,
          ...(acks ? {} : { note: `sent; no deliver_sm_resp within ${ackTimeoutMs / 1000} s` }),
        },
      ];
    },
    'POST /receipt': async (req) => {
      const body = await readObject(req, ['message_id', 'state', 'err']);
      const id = body.message_id;
      if (typeof id !== 'string' || !/^[\x21-\x7e]{1,64}$/.test(id)) {
        throw bad('message_id', 'the SMSC message id of a submitted part (as in sms_status(...).message_ids, 1 to 64 printable characters)', id);
      }
      const state = body.state === undefined ? 'DELIVRD' : typeof body.state === 'string' ? normalizeReceiptState(body.state) : null;
      if (!state || !(RECEIPT_STATES as readonly string[]).includes(state)) throw bad('state', RECEIPT_STATES.join(', '), body.state);
      if (body.err !== undefined && (typeof body.err !== 'string' || !/^[0-9A-Za-z]{1,3}$/.test(body.err))) {
        throw bad('err', 'up to 3 digits or letters, as in the receipt text\'s "err:" field', body.err);
      }
      requireReceiver(sim);
      const answer = deferred<number>();
      sim.sendReceipt({ messageId: id, state, ...(body.err !== undefined ? { err: body.err as string } : {}), onResponse: answer.resolve });
      const acks = await settle([answer], ackTimeoutMs);
      return [
        acks ? 200 : 202,
        {
          message_id: id,
          state,
          acknowledged: acks ? classifyStatus(acks[0]!).name : null,
          ...(acks ? {} : { note: `sent; no deliver_sm_resp within ${ackTimeoutMs / 1000} s` }),
        },
      ];
    },
    'POST /auto-reply': async (req) => {
      const body = await readObject(req, ['number', 'text']);
      const number = address(body, 'number');
      if (!/^\+?\d+$/.test(number)) throw bad('number', 'a phone number ("+79991234567")', body.number);
      if (body.text !== null && (typeof body.text !== 'string' || body.text.length === 0)) throw bad('text', 'a non-empty string, or null to remove the auto-responder', body.text);
      const replies = { ...sim.options.autoReplies };
      if (body.text === null) delete replies[number.replace(/^\+/, '')];
      else replies[number.replace(/^\+/, '')] = body.text as string;
      sim.configure({ autoReplies: replies });
      return [200, { auto_replies: replies }];
    },
    'POST /disconnect': async (req) => {
      const body = await readObject(req, ['how']);
      const how = body.how ?? 'close';
      if (how !== 'close' && how !== 'unbind') throw bad('how', '"close" (drop the TCP connections) or "unbind" (an unbind from the SMSC)', body.how);
      const connections = sim.connections;
      if (connections === 0) throw new RequestError(409, 'no SMPP connection to drop: nothing is connected to the simulator');
      if (how === 'close') sim.closeConnections();
      else sim.sendUnbind();
      return [200, { how, connections }];
    },
    'POST /fail-next': async (req) => {
      const body = await readObject(req, ['command_status', 'count']);
      const status = commandStatus(body.command_status, 'command_status');
      if (status === 0) throw bad('command_status', 'an error status (ESME_ROK is what the simulator answers anyway)', body.command_status);
      const count = body.count ?? 1;
      if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > 1_000_000) throw bad('count', 'a whole number from 0 (clear) to 1000000', body.count);
      sim.failNextSubmits(count, status);
      const info = classifyStatus(status);
      return [200, { count, command_status: info.name, kind: info.kind }];
    },
    'POST /config': async (req) => {
      const body = await readObject(req, ['receipts', 'receipt_delay_ms', 'response_delay_ms', 'throttle_rate', 'refuse_binds', 'refuse_validity_period']);
      if (body.receipts !== undefined && typeof body.receipts !== 'boolean') throw bad('receipts', 'true or false', body.receipts);
      const refuseValidity = body.refuse_validity_period;
      if (refuseValidity !== undefined && typeof refuseValidity !== 'boolean') {
        throw bad('refuse_validity_period', 'true (answer ESME_RINVEXPIRY to submit_sm carrying a validity_period) or false', refuseValidity);
      }
      const delay = milliseconds(body, 'receipt_delay_ms');
      const responseDelay = milliseconds(body, 'response_delay_ms');
      const rate = body.throttle_rate;
      if (rate !== undefined && (typeof rate !== 'number' || !(rate >= 0 && rate <= 1))) throw bad('throttle_rate', 'a share of submit_sm from 0 to 1', rate);
      const refuse = body.refuse_binds === undefined || body.refuse_binds === null ? body.refuse_binds : commandStatus(body.refuse_binds, 'refuse_binds');
      sim.configure({
        ...(body.receipts !== undefined ? { receipts: body.receipts as boolean } : {}),
        ...(delay !== undefined ? { receiptDelayMs: delay } : {}),
        ...(responseDelay !== undefined ? { responseDelayMs: responseDelay } : {}),
        ...(rate !== undefined ? { throttleRate: rate as number } : {}),
        ...(refuseValidity !== undefined ? { refuseValidityPeriod: refuseValidity as boolean } : {}),
      });
      // configure() skips undefined values; null (accept binds again) is set directly.
      if (refuse !== undefined) sim.options.refuseBinds = refuse === 0 ? null : refuse;
      return [200, state(sim)];
    },
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://control');
    const key = `${req.method} ${url.pathname.replace(/(.)\/$/, '$1')}`;
    const route = routes[key];
    const handle = async (): Promise<[number, unknown]> => {
      if (route) return route(req, url);
      const known = Object.keys(routes).filter((k) => k.endsWith(` ${url.pathname}`));
      if (known.length) throw new RequestError(405, `${req.method} is not allowed here; use ${known.map((k) => k.split(' ')[0]).join(' or ')}`);
      throw new RequestError(404, `no such endpoint: ${req.method} ${url.pathname}`);
    };
    handle().then(
      ([status, body]) => reply(res, status, body),
      (err: unknown) => {
        if (err instanceof RequestError) {
          reply(res, err.status, { error: err.message, ...(err.field ? { field: err.field } : {}), ...(err.status === 404 ? { endpoints: ENDPOINTS } : {}) });
        } else {
          log?.error({ err }, 'simulator control: request failed');
          reply(res, 500, { error: (err as Error)?.message ?? String(err) });
        }
      },
    );
    res.on('finish', () => log?.debug({ method: req.method, path: url.pathname, status: res.statusCode }, 'simulator control request'));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, CONTROL_HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    host: CONTROL_HOST,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The request body as a JSON object with only `allowed` keys (an empty body is `{}`). */
async function readObject(req: IncomingMessage, allowed: string[]): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new RequestError(413, `the request body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new RequestError(400, `the body is not JSON (${(err as Error).message}); send e.g. {${allowed.map((k) => `"${k}": ...`).join(', ')}}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new RequestError(400, 'the body must be a JSON object');
  const unknown = Object.keys(value).filter((k) => !allowed.includes(k));
  if (unknown.length) throw new RequestError(400, `${unknown[0]}: unknown field; this endpoint takes ${allowed.join(', ')}`, unknown[0]);
  return value as Record<string, unknown>;
}

/** A phone number (digits, optional leading +) or an alphanumeric name, as SMPP addresses carry them. */
function address(body: Record<string, unknown>, field: 'from' | 'to' | 'number'): string {
  const v = body[field];
  const expected = 'a phone number ("+79991234567", up to 20 digits) or an alphanumeric name of 1 to 11 printable ASCII characters';
  if (typeof v !== 'string') throw bad(field, expected, v);
  const trimmed = v.trim();
  if (/^\+?\d{1,20}$/.test(trimmed)) return trimmed;
  if (/^[\x20-\x7e]{1,11}$/.test(trimmed) && /[A-Za-z]/.test(trimmed)) return trimmed;
  throw bad(field, expected, v);
}

/** An optional delay field: milliseconds from 0 to a day. */
function milliseconds(body: Record<string, unknown>, field: string): number | undefined {
  const v = body[field];
  if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 86_400_000)) throw bad(field, 'milliseconds from 0 to 86400000', v);
  return v;
}

/** A command_status given by name ("ESME_RTHROTTLED") or number (88, "0x58"). */
function commandStatus(v: unknown, field: string): number {
  const expected = 'an SMPP command_status: a name such as "ESME_RINVDSTADR" or a number such as 11 or "0x0B"';
  let code: number | undefined;
  if (typeof v === 'number') code = v;
  else if (typeof v === 'string' && /^0x[0-9a-f]{1,8}$/i.test(v)) code = Number.parseInt(v.slice(2), 16);
  else if (typeof v === 'string' && /^\d+$/.test(v)) code = Number(v);
  else if (typeof v === 'string') code = statusCode(v.trim().toUpperCase());
  if (code === undefined || !Number.isInteger(code) || code < 0 || code > 0xffffffff) throw bad(field, expected, v);
  return code;
}

function requireReceiver(sim: Simulator): void {
  if (sim.receivingSessions > 0) return;
  throw new RequestError(
    409,
    `no SMPP session is bound to receive it: start the worker against this simulator (SMPP_URL=smpp://user:password@${sim.host}:${sim.port}) and wait for "SMPP session bound"`,
  );
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Every answer, or null when they did not all come within `timeoutMs`. */
async function settle(answers: Deferred<number>[], timeoutMs: number): Promise<number[] | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), timeoutMs);
  });
  try {
    return await Promise.race([Promise.all(answers.map((a) => a.promise)), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function statusName(code: number): string | null {
  return code < 0 ? null : classifyStatus(code).name;
}

function showSubmit(s: ReturnType<Simulator['recentSubmits']>[number]) {
  return {
    at: s.at,
    system_id: s.systemId,
    source: s.source,
    destination: s.destination,
    data_coding: s.dataCoding,
    registered_delivery: s.registeredDelivery,
    validity_period: s.validityPeriod || null,
    part: s.part ? { reference: s.part.ref, total: s.part.total, seq: s.part.seq } : null,
    text: s.text,
    message_id: s.messageId,
    command_status: statusName(s.status),
  };
}

function state(sim: Simulator) {
  const o = sim.options;
  const failing = sim.pendingFailures;
  return {
    smpp: { host: sim.host, port: sim.port },
    connections: sim.connections,
    sessions: sim.sessionInfo().map((s) => ({ system_id: s.systemId, bind: s.bind, bound: s.bound, unanswered_submits: s.unansweredSubmits })),
    receipts: { on: o.receipts, delay_ms: o.receiptDelayMs, form: o.receiptForm, id_format: o.idFormat },
    response_delay_ms: o.responseDelayMs,
    throttle_rate: o.throttleRate,
    refuse_binds: o.refuseBinds ? classifyStatus(o.refuseBinds).name : null,
    refuse_validity_period: o.refuseValidityPeriod,
    auto_replies: o.autoReplies,
    fail_next: failing.count > 0 ? { count: failing.count, command_status: classifyStatus(failing.status).name } : null,
    counters: Object.fromEntries(Object.entries(sim.counters).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v])),
  };
}
