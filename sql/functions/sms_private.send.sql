-- sms_private.send: sms_send's general path for a given owner, and the way sms_send_to_self and
-- the Supabase Auth hook enqueue. Its rules are sms_private.new_message's (the one implementation
-- they share with an app's INSERT INTO sms_outbox, trigger sms_outbox_insert): it returns the
-- row to insert, or the id of the message a repeated idempotency key names, or raises. Then:
--   * the INSERT; with a key, ON CONFLICT waits for a concurrent transaction holding the same
--     owner and key: if it commits, nothing is inserted and new_message is asked again (it finds
--     that message: a repeat, or 23505); if it rolls back, this insert goes through. Another
--     owner's key is another index entry: no conflict, no wait;
--   * a message stored rejected (opted out, a reply loop) is announced like every final status;
--     any other wakes an idle worker.
-- With `secret` (sms_auth_send_sms_hook's sign-in codes) the text goes to sms_outbox_secret, which
-- only the worker's claim reads, and the row is inserted with its body blanked as redaction
-- leaves one (body '', body_hash, body_length): the code is never in sms_outbox, and the row
-- takes no second version to blank it. sms_private.outbox_secret_release deletes the text once
-- the message leaves the queue.
-- The owner is an argument, so nobody but the owner of the schema may call it.
create or replace function sms_private.send(
  owner           text,
  recipient       text,
  body            text,
  sender          text,
  send_at         timestamptz,
  expires_at      timestamptz,
  priority        integer,
  idempotency_key text,
  metadata        jsonb,
  category        text default 'transactional',
  secret          boolean default false
) returns uuid
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_new record;
  v_m public.sms_outbox;
  v_id uuid;
  v_armed boolean;
  v_text text;                    -- with `secret`: the text, kept out of the row
begin
  loop
    v_new := sms_private.new_message(send.owner, send.recipient, send.body, send.sender, send.send_at,
                                     send.expires_at, send.priority, send.idempotency_key, send.metadata,
                                     send.category);
    if v_new.repeat_of is not null then
      return v_new.repeat_of;                                -- a repeat: nothing inserted, no wake-up
    end if;
    v_m := v_new.message;
    if send.secret then
      v_text := v_m.body;
      v_m.body_hash := sms_private.body_hash(v_m.body);
      v_m.body_length := char_length(v_m.body);
      v_m.body := '';
    end if;
    if v_m.idempotency_key is null then
      insert into public.sms_outbox values (v_m.*)
      returning id, (select w.armed_until > now() from public.sms_wakeup w) into v_id, v_armed;
    else
      insert into public.sms_outbox values (v_m.*)
      on conflict (owner, idempotency_key) where idempotency_key is not null do nothing
      returning id, (select w.armed_until > now() from public.sms_wakeup w) into v_id, v_armed;
    end if;
    exit when v_id is not null;
    -- A concurrent transaction committed the key first: new_message finds its message now.
  end loop;
  if send.secret and v_m.status <> 'rejected' then
    -- A message stored rejected is final at once and never sent: no text to keep for it (and
    -- no status change would release it).
    insert into public.sms_outbox_secret (outbox_id, body) values (v_id, v_text);
  end if;

  if v_m.status = 'rejected' then
    -- Final at once: announced like every final status; nothing to wake a worker for.
    perform sms_private.announce_status(v_id, 'rejected');
    return v_id;
  end if;
  -- Wake an idle worker. NOTIFY is transactional: delivered at commit, discarded on rollback,
  -- and identical notifications in one transaction are folded into one. While the worker is
  -- draining it disarms the switch and enqueues skip the NOTIFY (which serialises commits).
  -- The switch is read in the INSERT's snapshot, so a worker that arms it after that and
  -- re-checks the queue before this transaction commits does not see this row: the worker
  -- re-checks once more a second after arming, and the sms_drain cron job each minute.
  if v_armed then
    perform sms_private.wake_workers();
  end if;
  return v_id;
end
$$;

comment on function sms_private.send(text, text, text, text, timestamptz, timestamptz, integer, text, jsonb, text, boolean) is
  'sms-outbox internal: sms_send''s general path for a given owner (also sms_send_to_self''s): inserts the row sms_private.new_message builds';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.send(text, text, text, text, timestamptz, timestamptz, integer, text, jsonb, text, boolean) from public, sms_sender, sms_reader, sms_worker;
