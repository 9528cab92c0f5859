-- sms_private.reply_context: inside a reply handler, which rule, incoming SMS and owner it runs
-- for; NULL outside one. sms_inbound_run sets the setting sms.reply_context before it calls a
-- handler and clears it after:
--   <rule id>|<inbox id>|<backend pid>|<transaction id>|<owner, hex>|<role, hex>|<signature>
-- the signature being sha256 over sms_private.context_key, the rest, and the key again. A handler
-- can read the setting and change it like any other, but cannot sign one for another owner, rule
-- or SMS, nor carry one to another backend or transaction: a setting that does not verify is an
-- error (42501), never a fallback. The worker's session acts as the worker role (SET LOCAL ROLE)
-- while handlers run, and sms_private.caller_owner refuses that role without a context, so
-- clearing the setting does not help either.
create or replace function sms_private.reply_context(out rule_id bigint, out inbox_id uuid, out owner text, out runs_as text)
returns record
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v text := current_setting('sms.reply_context', true);
  body text;
  k bytea;
begin
  if v is null or v = '' then
    return;
  end if;
  body := left(v, -65);
  select c.key into k from sms_private.context_key c;
  if char_length(v) < 66 or substr(v, char_length(v) - 64, 1) <> '|'
     or right(v, 64) <> encode(sha256(k || convert_to(body, 'UTF8') || k), 'hex') then
    raise exception 'sms.reply_context was changed: it no longer says which reply handler runs'
      using errcode = '42501', hint = 'a reply handler must leave the setting sms.reply_context as it was';
  end if;
  if split_part(body, '|', 3) <> pg_backend_pid()::text or split_part(body, '|', 4) <> pg_current_xact_id()::text then
    raise exception 'sms.reply_context belongs to another transaction'
      using errcode = '42501', hint = 'a reply handler must leave the setting sms.reply_context as it was';
  end if;
  rule_id := split_part(body, '|', 1)::bigint;
  inbox_id := split_part(body, '|', 2)::uuid;
  owner := convert_from(decode(split_part(body, '|', 5), 'hex'), 'UTF8');
  runs_as := convert_from(decode(split_part(body, '|', 6), 'hex'), 'UTF8');
end
$$;

comment on function sms_private.reply_context() is
  'sms-outbox internal: inside a reply handler, the rule, incoming SMS and owner it runs for (verified); NULL outside one';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.reply_context() from public, sms_sender, sms_reader, sms_worker;
