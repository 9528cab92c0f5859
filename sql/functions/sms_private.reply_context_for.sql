-- sms_private.reply_context_for: the value of the setting sms.reply_context for a handler call
-- (see sms_private.reply_context): the context as JSON and its signature.
create or replace function sms_private.reply_context_for(rule_id bigint, inbox_id uuid, owner text, runs_as text)
returns text
language sql volatile
set search_path = pg_catalog, pg_temp
as $$
  select b || '|' || encode(sha256(k.key || convert_to(b, 'UTF8') || k.key), 'hex')
    from (select json_build_object('rule', $1, 'inbox', $2, 'owner', $3, 'role', $4,
                                   'pid', pg_backend_pid(), 'xid', pg_current_xact_id()::text)::text as b) x,
         sms_private.context_key k
$$;

comment on function sms_private.reply_context_for(bigint, uuid, text, text) is
  'sms-outbox internal: the signed value of sms.reply_context for one reply handler call';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.reply_context_for(bigint, uuid, text, text) from public, sms_sender, sms_reader, sms_worker;
