/**
 * What the signed-in login may do, read from Postgres's own catalogs once at sign-in: the console
 * shows a button only where Postgres would allow the call, and calls Postgres anyway (which has
 * the last word: a request the button would not have made is refused by its grants).
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from '../schema.js';

export interface Capabilities {
  /** The login (current_user) and the owner its messages get (as sms_outbox.owner quotes it). */
  login: string;
  owner: string;
  superuser: boolean;
  bypassRls: boolean;
  /** A member of the role owning the sms_ objects: acts on every message (sms_private.caller_is_admin). */
  admin: boolean;
  /** Reads sms_outbox and sms_inbox (the reader role): lists, bodies on request. */
  readMessages: boolean;
  readInbox: boolean;
  readOptOuts: boolean;
  readParked: boolean;
  readWorkers: boolean;
  readSignInCodes: boolean;
  readRefusals: boolean;
  explain: boolean;
  retry: boolean;
  cancel: boolean;
  optIn: boolean;
  optOut: boolean;
  replay: boolean;
  /** public.sms_conversation(text) exists and may be called: the conversation page. */
  conversationFunction: boolean;
}

const fn = (signature: string) =>
  sql<boolean>`coalesce(to_regprocedure(${signature}) is not null and has_function_privilege(to_regprocedure(${signature}), 'EXECUTE'), false)`;
const table = (name: string, privilege = 'SELECT') =>
  sql<boolean>`coalesce(to_regclass(${name}) is not null and has_table_privilege(to_regclass(${name}), ${privilege}), false)`;

export async function readCapabilities(db: Kysely<Database>): Promise<Capabilities> {
  const { rows } = await sql<Record<string, unknown>>`
    select current_user::text as login,
           quote_ident(current_user::text) as owner,
           r.rolsuper as superuser,
           r.rolbypassrls as bypass_rls,
           coalesce((select pg_has_role(current_user, c.relowner, 'MEMBER') from pg_class c where c.oid = to_regclass('public.sms_outbox')), false) as admin,
           ${table('public.sms_outbox')} as read_messages,
           ${table('public.sms_inbox')} as read_inbox,
           ${table('public.sms_opt_out')} as read_opt_outs,
           ${table('public.sms_inbound_parked')} as read_parked,
           ${table('public.sms_worker_state')} as read_workers,
           ${table('public.sms_auth_code')} as read_sign_in_codes,
           ${fn('public.sms_auth_hook_refusals()')} as read_refusals,
           ${fn('public.sms_explain(uuid)')} as explain,
           ${fn('public.sms_retry(uuid)')} as retry,
           ${fn('public.sms_cancel(uuid)')} as cancel,
           ${fn('public.sms_opt_in(text)')} as opt_in,
           ${fn('public.sms_opt_out(text)')} as opt_out,
           ${fn('public.sms_inbound_replay(bigint)')} and ${table('public.sms_inbound_parked', 'UPDATE')} as replay,
           ${fn('public.sms_conversation(text)')} as conversation_function
      from pg_roles r
     where r.rolname = current_user
  `.execute(db);
  const r = rows[0]!;
  return {
    login: String(r.login),
    owner: String(r.owner),
    superuser: r.superuser === true,
    bypassRls: r.bypass_rls === true,
    admin: r.admin === true,
    readMessages: r.read_messages === true,
    readInbox: r.read_inbox === true,
    readOptOuts: r.read_opt_outs === true,
    readParked: r.read_parked === true,
    readWorkers: r.read_workers === true,
    readSignInCodes: r.read_sign_in_codes === true,
    readRefusals: r.read_refusals === true,
    explain: r.explain === true,
    retry: r.retry === true,
    cancel: r.cancel === true,
    optIn: r.opt_in === true,
    optOut: r.opt_out === true,
    replay: r.replay === true,
    conversationFunction: r.conversation_function === true,
  };
}
