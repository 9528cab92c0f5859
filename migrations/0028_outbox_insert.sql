-- sms-outbox 0028: an app may INSERT into sms_outbox, by sms_send's rules.
--
-- `insert into sms_outbox (recipient, body, ...) values (...) returning id` enqueues a message
-- exactly as sms_send does: the trigger sms_outbox_insert (sql/functions/
-- sms_private.outbox_insert.sql) hands the row to sms_private.new_message, the function
-- sms_send's general path builds its row with. An INSERT that does not name `owner` is such an
-- app INSERT; naming `owner` is the raw INSERT of the table's owner (test fixtures, restores),
-- and nobody else may name it.
--
-- For the trigger to tell a column the app set from one it left alone, the columns sms-outbox
-- sets lose their defaults: NULL means "not given". The app may name them (so a mistake gets an
-- error naming the column, 428C9, not "permission denied for table"), and the trigger refuses
-- any it finds set; an INSERT naming `owner` gets the old defaults filled in by the same trigger.
-- sms_send's own INSERTs name every column and do not fire it. (The default of id,
-- sms_uuidv7(), was set by sql/functions/public.sms_uuidv7.sql, which no longer sets it.)

alter table public.sms_outbox
  alter column id drop default,
  alter column created_at drop default,
  alter column updated_at drop default,
  alter column status drop default,
  alter column attempts drop default,
  alter column owner drop default,
  alter column replaced_chars drop default,
  alter column retries drop default,
  alter column attempts_at_retry drop default;

-- The sender role: INSERT on every column but owner (the trigger allows the app's columns
-- alone), and SELECT on id for `returning id`. Row level security is on: a sender inserts any
-- row (the trigger sets its owner) and sees the ids of its own, the owner that
-- sms_private.caller_owner() gives it: its login, the role it switched to, or that role with the
-- request's JWT sub (written out here, since a policy runs with the caller's rights).
grant insert (id, created_at, updated_at, recipient, sender, body, encoding, segments, priority, send_at,
              expires_at, idempotency_key, metadata, status, attempts, next_attempt_at, lease_until, worker_id,
              submitted_at, done_at, message_ids, error_code, error_message, receipt_state, receipt_error,
              body_hash, body_length, redacted_at, category, replaced_chars, retries, attempts_at_retry,
              smsc_message_id, reply_to_inbox)
  on public.sms_outbox to sms_sender;
grant select (id) on public.sms_outbox to sms_sender;

create policy sms_sender_insert on public.sms_outbox for insert to sms_sender with check (true);
create policy sms_sender_select on public.sms_outbox for select to sms_sender
  using (owner = pg_catalog.quote_ident(session_user::text)
         or owner = pg_catalog.quote_ident(current_user::text)
         or owner = pg_catalog.quote_ident(current_user::text) || ':' || (
              select case when x.sub ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                          then pg_catalog.lower(x.sub) else x.sub end
                from (select coalesce(
                               nullif(pg_catalog.current_setting('request.jwt.claim.sub', true), ''),
                               nullif(nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub', '')) as sub) x));

comment on table public.sms_outbox is
  'sms-outbox: one row per message. Apps write it through sms_send, or INSERT the columns recipient, body, sender, send_at, expires_at, priority, idempotency_key, metadata, category by the same rules (trigger sms_outbox_insert); sms_cancel cancels; the worker drains it.';
comment on column public.sms_outbox.id is 'time-ordered UUID (v7) returned by sms_send (and by INSERT ... RETURNING id)';
