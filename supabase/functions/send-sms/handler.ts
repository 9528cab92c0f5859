/**
 * The send-sms Edge Function's logic, free of Deno and of any import, so it can be tested under
 * Node as well (test/supabase/edge-function.test.ts). index.ts wires it to Deno.serve and
 * supabase-js.
 *
 * POST /functions/v1/send-sms, Content-Type: application/json, Authorization: Bearer <token>
 *
 *   Your server (Authorization: the service role key) may send to any number:
 *     { "recipient": "+79991234567", "body": "Код: 4821", "idempotency_key": "...",
 *       "sender": "MyShop", "send_at": "2025-01-01T10:00:00Z", "expires_at": "...",
 *       "priority": 5, "metadata": { "order_id": 42 } }
 *     -> sms_send(...) as service_role.
 *
 *   A signed-in user (Authorization: their access token) may only text their own verified
 *   phone, and only when the database owner opted in (select sms_allow_authenticated_send(true)):
 *     { "to": "self", "body": "...", "idempotency_key": "..." }
 *     -> sms_send_to_self(...) with the user's token, so the database checks who they are, that
 *        their phone is verified, and the rate limits.
 *
 * Responses: 202 { "id": "<uuid>" } (queued; the worker sends it), or { "error": { code, message,
 * details, hint } } with 400 (bad input, field named in details), 401 (no token), 403 (a user
 * asking for another recipient, the opt-in off, phone not verified), 405, 409 (idempotency_key
 * reused), 413, 415, 429 (rate limit, with Retry-After), 502 (the database could not be reached).
 */

/** sms_send's arguments, as JSON (timestamps as ISO 8601 strings). Names are the SQL argument names. */
export interface SmsSendArgs {
  recipient: string;
  body: string;
  sender?: string;
  send_at?: string;
  expires_at?: string;
  priority?: number;
  idempotency_key?: string;
  metadata?: Record<string, unknown>;
}

export interface SmsSendToSelfArgs {
  body: string;
  idempotency_key?: string;
}

export type SmsCall = { fn: 'sms_send'; args: SmsSendArgs } | { fn: 'sms_send_to_self'; args: SmsSendToSelfArgs };

/** What the handler needs of a supabase-js client: one RPC call and the PostgREST response. */
export interface RpcClient {
  call(call: SmsCall): PromiseLike<RpcResult>;
}

export interface RpcResult {
  data: unknown;
  error: { code: string; message: string; details: string | null; hint: string | null } | null;
  /** The HTTP status PostgREST answered with. */
  status: number;
}

export interface HandlerEnv {
  /** SUPABASE_SERVICE_ROLE_KEY: a request bearing it is your own server. */
  serviceRoleKey: string;
  /** A client acting as service_role. */
  serviceClient(): RpcClient;
  /** A client acting as the caller (its Authorization header forwarded). */
  userClient(authorization: string): RpcClient;
}

/** Larger bodies are refused before parsing (a 10-part UCS-2 SMS is 670 characters). */
const MAX_REQUEST_BYTES = 16 * 1024;
/** 10 parts of 160 GSM-7 characters; the database applies the exact rule. */
const MAX_BODY_CHARS = 1600;

const CORS_HEADERS: Record<string, string> = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Headers': 'authorization, x-client-info, apikey, content-type',
  'Access-Control-Allow-Methods': 'POST, OPTIONS',
};

class RequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: string | null = null,
  ) {
    super(message);
  }
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { ...CORS_HEADERS, 'Content-Type': 'application/json; charset=utf-8', ...headers },
  });
}

function errorResponse(status: number, code: string, message: string, details: string | null = null, hint: string | null = null, headers: Record<string, string> = {}): Response {
  return json(status, { error: { code, message, details, hint } }, headers);
}

/** Constant-time string comparison (for the service role key). */
function sameSecret(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0 && a.length > 0;
}

type Fields = Record<string, unknown>;

function optionalString(fields: Fields, name: string, max: number): string | undefined {
  const v = fields[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new RequestError(400, 'invalid_field', `${name} must be a string`, name);
  if (v.length === 0 || v.length > max) throw new RequestError(400, 'invalid_field', `${name} must have 1 to ${max} characters`, name);
  return v;
}

function requiredString(fields: Fields, name: string, max: number): string {
  const v = optionalString(fields, name, max);
  if (v === undefined) throw new RequestError(400, 'missing_field', `${name} is required`, name);
  return v;
}

function optionalTime(fields: Fields, name: string): string | undefined {
  const v = optionalString(fields, name, 64);
  if (v !== undefined && Number.isNaN(Date.parse(v))) throw new RequestError(400, 'invalid_field', `${name} must be an ISO 8601 time, e.g. 2025-01-01T10:00:00Z`, name);
  return v;
}

function onlyKnown(fields: Fields, known: string[]): void {
  const unknown = Object.keys(fields).filter((k) => !known.includes(k));
  if (unknown.length) throw new RequestError(400, 'unknown_field', `unknown field${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`, unknown.join(', '));
}

/** What to call, and with which arguments, for a request body. */
function plan(fields: Fields, isService: boolean): SmsCall {
  const body = requiredString(fields, 'body', MAX_BODY_CHARS);
  const idempotency_key = optionalString(fields, 'idempotency_key', 255);
  if (fields.to === 'self') {
    onlyKnown(fields, ['to', 'body', 'idempotency_key']);
    if (isService) throw new RequestError(400, 'invalid_field', '"to": "self" needs a signed-in user\'s token, not the service role key', 'to');
    return { fn: 'sms_send_to_self', args: idempotency_key === undefined ? { body } : { body, idempotency_key } };
  }
  if (fields.to !== undefined) throw new RequestError(400, 'invalid_field', 'to must be "self" (or leave it out and give recipient)', 'to');
  if (!isService) {
    throw new RequestError(403, 'forbidden', 'a signed-in user may only send to their own phone: use {"to": "self", "body": ...}', 'recipient');
  }
  onlyKnown(fields, ['recipient', 'body', 'sender', 'send_at', 'expires_at', 'priority', 'idempotency_key', 'metadata']);
  const recipient = requiredString(fields, 'recipient', 32);
  if (!/^\+?[0-9][0-9 ().-]{5,30}$/.test(recipient)) {
    throw new RequestError(400, 'invalid_field', 'recipient must be a phone number in international format, e.g. +79991234567', 'recipient');
  }
  const args: SmsSendArgs = { recipient, body };
  const sender = optionalString(fields, 'sender', 15);
  if (sender !== undefined) args.sender = sender;
  const sendAt = optionalTime(fields, 'send_at');
  if (sendAt !== undefined) args.send_at = sendAt;
  const expiresAt = optionalTime(fields, 'expires_at');
  if (expiresAt !== undefined) args.expires_at = expiresAt;
  if (fields.priority !== undefined && fields.priority !== null) {
    if (typeof fields.priority !== 'number' || !Number.isInteger(fields.priority)) {
      throw new RequestError(400, 'invalid_field', 'priority must be an integer from -10 to 10', 'priority');
    }
    args.priority = fields.priority;
  }
  if (idempotency_key !== undefined) args.idempotency_key = idempotency_key;
  if (fields.metadata !== undefined && fields.metadata !== null) {
    if (typeof fields.metadata !== 'object' || Array.isArray(fields.metadata)) throw new RequestError(400, 'invalid_field', 'metadata must be a JSON object', 'metadata');
    args.metadata = fields.metadata as Record<string, unknown>;
  }
  return { fn: 'sms_send', args };
}

/** Seconds until the time in a PT429 hint ("retry after 2025-01-01T10:00:00Z"), at least 1. */
function retryAfter(hint: string | null): string | undefined {
  const ms = Date.parse(hint?.match(/^retry after (\S+)$/)?.[1] ?? '');
  return Number.isNaN(ms) ? undefined : String(Math.max(1, Math.ceil((ms - Date.now()) / 1000)));
}

export async function handle(request: Request, env: HandlerEnv): Promise<Response> {
  if (request.method === 'OPTIONS') return new Response(null, { status: 204, headers: CORS_HEADERS });
  if (request.method !== 'POST') return errorResponse(405, 'method_not_allowed', 'use POST', null, null, { Allow: 'POST, OPTIONS' });

  const authorization = request.headers.get('Authorization') ?? '';
  const token = authorization.match(/^Bearer\s+(\S+)$/i)?.[1];
  if (!token) return errorResponse(401, 'unauthorized', 'an Authorization: Bearer <token> header is required', null, null, { 'WWW-Authenticate': 'Bearer' });
  const isService = sameSecret(token, env.serviceRoleKey);

  if (!/^application\/json\b/i.test(request.headers.get('Content-Type') ?? '')) {
    return errorResponse(415, 'unsupported_media_type', 'send a JSON body with Content-Type: application/json');
  }
  const text = await request.text();
  if (new TextEncoder().encode(text).length > MAX_REQUEST_BYTES) return errorResponse(413, 'too_large', `the request body is over ${MAX_REQUEST_BYTES} bytes`);
  let fields: unknown;
  try {
    fields = JSON.parse(text);
  } catch {
    return errorResponse(400, 'invalid_json', 'the request body is not valid JSON');
  }
  if (!fields || typeof fields !== 'object' || Array.isArray(fields)) return errorResponse(400, 'invalid_json', 'the request body must be a JSON object');

  let call: SmsCall;
  try {
    call = plan(fields as Fields, isService);
  } catch (err) {
    if (err instanceof RequestError) return errorResponse(err.status, err.code, err.message, err.details);
    throw err;
  }

  const client = isService ? env.serviceClient() : env.userClient(authorization);
  let result: RpcResult;
  try {
    result = await client.call(call);
  } catch {
    return errorResponse(502, 'database_unreachable', 'could not reach the database; try again');
  }
  if (!result.error) return json(202, { id: result.data });

  const { code, message, details, hint } = result.error;
  const status = result.status;
  if (status === 404 || (isService && (status === 401 || status === 403))) {
    // No such function (PGRST202), or the service role refused: the outbox is not installed, or
    // its grants are missing. Not the caller's fault.
    return errorResponse(500, 'misconfigured', 'sms-outbox is not installed in this database, or service_role may not call sms_send (run sms-outbox migrate)', code, null);
  }
  if (status >= 500 || status === 0) return errorResponse(502, 'database_error', 'the database could not queue the message; try again', code, null);
  const headers: Record<string, string> = {};
  if (status === 429) {
    const after = retryAfter(hint);
    if (after) headers['Retry-After'] = after;
  }
  return errorResponse(status, code, message, details, hint, headers);
}
