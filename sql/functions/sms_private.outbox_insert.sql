-- sms_private.outbox_insert: an app's INSERT INTO sms_outbox enqueues by sms_send's rules.
--
--   insert into sms_outbox (recipient, body) values ('+7 999 123-45-67', 'Your code: 4821') returning id;
--
-- An INSERT that does not name `owner` is an app's (nobody but the table's owner may name it):
--   * it may set the columns sms_send takes as arguments: recipient, body, sender, send_at,
--     expires_at, priority, idempotency_key, metadata, category. Any other column set is refused
--     (428C9, naming the column): sms-outbox sets those, and they have no defaults, so NULL here
--     means the app left them alone;
--   * the row is the one sms_send would insert for the same arguments: sms_private.new_message
--     builds it (the one implementation of the rules; every error is sms_send's, SQLSTATE and
--     message), owned by the caller as sms_send's messages are (sms_private.caller_owner);
--   * an idempotency key the caller already used for the same recipient and body is a repeat:
--     sms_send returns the first message's id and inserts nothing; the INSERT skips the row
--     (INSERT 0 0, no row from RETURNING), so a campaign's `insert ... select` run twice sends
--     each message once. The same key with another message is 23505, as from sms_send. A
--     concurrent transaction inserting the same key first makes this INSERT fail with 23505 on
--     the key's unique index where sms_send would return that id (add `on conflict do nothing`
--     to skip it instead);
--   * a message stored rejected (a marketing one to an opted-out number) is announced on
--     sms_status, any other wakes an idle worker, as sms_send does.
-- An INSERT naming `owner` (test fixtures, a restore) is taken as it is; the columns it leaves
-- out get what used to be their defaults.
--
-- The trigger's WHEN (owner or id not given) keeps it away from sms_send's own INSERTs, which
-- name both: they pay nothing for it.
create or replace function sms_private.outbox_insert() returns trigger
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_column text;
  v_new record;
begin
  if new.owner is not null then
    new.id := coalesce(new.id, public.sms_uuidv7());
    new.created_at := coalesce(new.created_at, now());
    new.updated_at := coalesce(new.updated_at, now());
    new.status := coalesce(new.status, 'queued');
    new.attempts := coalesce(new.attempts, 0);
    new.replaced_chars := coalesce(new.replaced_chars, 0);
    new.retries := coalesce(new.retries, 0);
    new.attempts_at_retry := coalesce(new.attempts_at_retry, 0);
    return new;
  end if;

  if num_nonnulls(new.id, new.created_at, new.updated_at, new.encoding, new.segments, new.status, new.attempts,
                  new.next_attempt_at, new.worker_id, new.submitted_at, new.done_at,
                  new.message_ids, new.error_code, new.error_message, new.receipt_state, new.receipt_error,
                  new.body_hash, new.body_length, new.redacted_at, new.replaced_chars, new.retries,
                  new.attempts_at_retry, new.smsc_message_id, new.reply_to_inbox) > 0 then
    select j.key into v_column
      from jsonb_each(to_jsonb(new)) with ordinality j
     where j.value <> 'null'::jsonb
       and j.key not in ('owner', 'recipient', 'body', 'sender', 'send_at', 'expires_at', 'priority',
                         'idempotency_key', 'metadata', 'category')
     order by j.ordinality
     limit 1;
    raise exception 'column % of sms_outbox is set by sms-outbox, not by the app', v_column
      using errcode = '428C9', column = v_column,
            hint = 'insert recipient, body and optionally sender, send_at, expires_at, priority, idempotency_key, metadata, category (the arguments of sms_send)';
  end if;

  v_new := sms_private.new_message(sms_private.caller_owner(), new.recipient, new.body, new.sender, new.send_at,
                                   new.expires_at, new.priority, new.idempotency_key, new.metadata, new.category);
  if v_new.repeat_of is not null then
    return null;                                             -- a repeat: nothing inserted, no wake-up
  end if;
  new := v_new.message;
  if new.status = 'rejected' then
    perform sms_private.announce_status(new.id, 'rejected');
  elsif (select w.armed_until > now() from public.sms_wakeup w) then
    perform sms_private.wake_workers();                      -- see sms_private.send
  end if;
  return new;
end
$$;

comment on function sms_private.outbox_insert() is
  'sms-outbox internal: an app''s INSERT INTO sms_outbox (owner not named) enqueues by sms_send''s rules through sms_private.new_message (trigger sms_outbox_insert)';

drop trigger if exists sms_outbox_insert on public.sms_outbox;
create trigger sms_outbox_insert
  before insert on public.sms_outbox
  for each row
  when (new.owner is null or new.id is null)
  execute function sms_private.outbox_insert();

-- A trigger function: nobody calls it.
revoke all on function sms_private.outbox_insert() from public, sms_sender, sms_reader, sms_worker;
