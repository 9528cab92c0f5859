/**
 * Supabase Edge Function `send-sms`: queues an SMS in sms-outbox with one RPC call. The SMS is
 * sent by the sms-outbox worker on its own host (an Edge Function cannot hold the carrier's
 * SMPP session); this function only validates the request and calls sms_send (your server,
 * with the service role key) or sms_send_to_self (a signed-in user, their own verified phone).
 * See handler.ts for the request and response format.
 *
 * Deploy: supabase functions deploy send-sms
 * (SUPABASE_URL, SUPABASE_ANON_KEY and SUPABASE_SERVICE_ROLE_KEY are set in every Edge Function.)
 *
 *   curl -X POST "$SUPABASE_URL/functions/v1/send-sms" \
 *     -H "Authorization: Bearer $SUPABASE_SERVICE_ROLE_KEY" -H 'Content-Type: application/json' \
 *     -d '{"recipient": "+79991234567", "body": "Код: 4821", "idempotency_key": "login:42:1"}'
 *
 *   // in the browser, as the signed-in user (only after sms_allow_authenticated_send(true)):
 *   await supabase.functions.invoke('send-sms', { body: { to: 'self', body: 'Your booking: #1234' } })
 */
import { createClient, type SupabaseClient } from 'jsr:@supabase/supabase-js@2';
import type { Database, Json } from '../_shared/database.types.ts';
import { handle, type RpcClient } from './handler.ts';

function required(name: string): string {
  const value = Deno.env.get(name);
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const url = required('SUPABASE_URL');
const anonKey = required('SUPABASE_ANON_KEY');
const serviceRoleKey = required('SUPABASE_SERVICE_ROLE_KEY');

// No sessions to keep: every call is one RPC.
const options = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } };
const service = createClient<Database>(url, serviceRoleKey, options);

/** One RPC through supabase-js, typed by Database: argument names are checked at compile time. */
function rpcClient(client: SupabaseClient<Database>): RpcClient {
  return {
    call: (c) =>
      c.fn === 'sms_send'
        ? client.rpc('sms_send', { ...c.args, metadata: c.args.metadata as Json | undefined })
        : client.rpc('sms_send_to_self', c.args),
  };
}

Deno.serve((request) =>
  handle(request, {
    serviceRoleKey,
    serviceClient: () => rpcClient(service),
    // The caller's token goes along, so PostgREST runs sms_send_to_self as that user.
    userClient: (authorization) =>
      rpcClient(createClient<Database>(url, anonKey, { ...options, global: { headers: { Authorization: authorization } } })),
  }),
);
