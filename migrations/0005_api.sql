-- sms-outbox 0005: the SQL interface apps call. Every function is SECURITY DEFINER (it acts
-- with its owner's rights, so callers need EXECUTE and nothing else) with search_path pinned to
-- pg_catalog, pg_temp and every object schema-qualified, so no caller-controlled search_path
-- can substitute a table, function or operator.

-- sms_send: validate, insert one row, and wake an idle worker. Argument names are API:
-- Supabase RPC passes them as JSON keys.
--
-- Built to cost little more than the INSERT it wraps (npm run bench:enqueue measures it). In a
-- PL/pgSQL function every statement has a price (each expression is prepared once per
-- transaction, and an enqueue usually is a transaction), so:
--   * the usual call (an international number, a body of at most 70 characters, no optional
--     argument) is one condition and one INSERT: such a body is one part in either encoding (at
--     most 70 UTF-16 units, or 140 septets), so only its encoding needs deciding, and the INSERT
--     reads sms_settings and the wake-up flag itself (INSERT ... SELECT ... RETURNING);
--   * every other call takes the general path: the same rules argument by argument, helpers
--     that normalise, count and explain (sms_check_recipient / _body / _sender), and when the
--     INSERT inserts nothing, a slow path that works out why and raises the matching error.
-- The checks are regular expressions, evaluated in C.
create function public.sms_send(
  recipient       text,
  body            text,
  sender          text        default null,
  send_at         timestamptz default null,
  expires_at      timestamptz default null,
  priority        integer     default 0,
  idempotency_key text        default null,
  metadata        jsonb       default null
) returns uuid
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_recipient text;
  v_sender text;                  -- NULL: sms_settings.default_sender
  v_encoding text;
  v_segments integer;
  v_count record;
  v_send_at timestamptz;
  v_due timestamptz;
  v_expires_at timestamptz;       -- NULL: v_due + sms_settings.default_validity
  v_priority integer;
  v_metadata jsonb;
  v_id uuid;
  v_armed boolean;
  cfg record;
  v_prior record;
begin
  if sms_send.sender is null and sms_send.send_at is null and sms_send.expires_at is null
     and coalesce(sms_send.priority, 0) = 0 and sms_send.metadata is null and sms_send.idempotency_key is null
     and sms_send.recipient ~ '^\+?(?!89)[1-9][0-9]{6,14}$'
     and char_length(sms_send.body) <= 70
     and sms_send.body !~ '[\u0001-\u0008\u000B\u000E-\u001F\u007F-\u009F\uFFFD-\uFFFF\U00010000-\U0010FFFF]'
     and sms_send.body ~ '[^\s\u00A0\u1680\u2000-\u200B\u2028\u2029\u202F\u205F\u3000\uFEFF]' then
    insert into public.sms_outbox
      (recipient, sender, body, encoding, segments, priority, send_at, expires_at, next_attempt_at)
    select ltrim(sms_send.recipient, '+'), s.default_sender, sms_send.body,
           case when sms_send.body ~ '[^]\n\r -?@-Z_a-z\u00A1\u00A3-\u00A5\u00A7\u00BF\u00C4-\u00C7\u00C9\u00D1\u00D6\u00D8\u00DC\u00DF\u00E0\u00E4-\u00E6\u00E8\u00E9\u00EC\u00F1\u00F2\u00F6\u00F8\u00F9\u00FC\u0393\u0394\u0398\u039B\u039E\u03A0\u03A3\u03A6\u03A8\u03A9\f^{}\\[~|\u20AC]'
                then 'ucs2' else 'gsm7' end,
           1, 0, now(), now() + s.default_validity, now()
      from public.sms_settings s
     where s.default_sender is not null
    returning id, (select w.armed_until > now() from public.sms_wakeup w) into v_id, v_armed;
    if v_id is not null then
      if v_armed then
        perform pg_notify('sms_outbox_wakeup', '');      -- see the end of the function
      end if;
      return v_id;
    end if;
    -- No default sender: the general path says so.
  end if;

  if sms_send.recipient ~ '^\+?(?!89)[1-9][0-9]{6,14}$' then
    v_recipient := ltrim(sms_send.recipient, '+');
  else
    v_recipient := public.sms_check_recipient(sms_send.recipient);
  end if;

  if char_length(sms_send.body) <= 70
     and sms_send.body !~ '[\u0001-\u0008\u000B\u000E-\u001F\u007F-\u009F\uFFFD-\uFFFF\U00010000-\U0010FFFF]'
     and sms_send.body ~ '[^\s\u00A0\u1680\u2000-\u200B\u2028\u2029\u202F\u205F\u3000\uFEFF]' then
    v_segments := 1;
    if sms_send.body ~ '[^]\n\r -?@-Z_a-z\u00A1\u00A3-\u00A5\u00A7\u00BF\u00C4-\u00C7\u00C9\u00D1\u00D6\u00D8\u00DC\u00DF\u00E0\u00E4-\u00E6\u00E8\u00E9\u00EC\u00F1\u00F2\u00F6\u00F8\u00F9\u00FC\u0393\u0394\u0398\u039B\u039E\u03A0\u03A3\u03A6\u03A8\u03A9\f^{}\\[~|\u20AC]' then
      v_encoding := 'ucs2';
    else
      v_encoding := 'gsm7';
    end if;
  else
    v_count := public.sms_check_body(sms_send.body);
    v_encoding := v_count.encoding;
    v_segments := v_count.segments;
  end if;

  if sms_send.sender is not null then
    v_sender := public.sms_check_sender(sms_send.sender);
  end if;

  -- send_at: NULL or a past time means now; the row is due at the later of the two.
  if sms_send.send_at is null then
    v_send_at := now();
    v_due := v_send_at;
  elsif not isfinite(sms_send.send_at) then
    raise exception 'send_at must be a finite time, got %', sms_send.send_at
      using errcode = '22023', column = 'send_at';
  else
    v_send_at := sms_send.send_at;
    v_due := greatest(v_send_at, now());
  end if;

  -- expires_at: NULL means the configured validity after the message is due (so a send_at in
  -- the past does not make a message born expired); the INSERT fills it in.
  if sms_send.expires_at is not null then
    if not isfinite(sms_send.expires_at) then
      raise exception 'expires_at must be a finite time, got %', sms_send.expires_at
        using errcode = '22023', column = 'expires_at';
    elsif sms_send.expires_at <= now() then
      raise exception 'expires_at % is in the past; expected a time after now (%)', sms_send.expires_at, now()
        using errcode = '22023', column = 'expires_at';
    elsif sms_send.expires_at <= v_due then
      raise exception 'expires_at % is not after send_at %; a message must be able to live after it is due', sms_send.expires_at, v_due
        using errcode = '22023', column = 'expires_at';
    end if;
    v_expires_at := sms_send.expires_at;
  end if;

  v_priority := coalesce(sms_send.priority, 0);
  if v_priority < -10 or v_priority > 10 then
    raise exception 'priority must be between -10 and 10 (higher is sent first), got %', v_priority
      using errcode = '22003', column = 'priority';
  end if;

  if sms_send.metadata is not null and jsonb_typeof(sms_send.metadata) <> 'null' then   -- JSON null: none
    if jsonb_typeof(sms_send.metadata) <> 'object' then
      raise exception 'metadata must be a JSON object, got a JSON %', jsonb_typeof(sms_send.metadata)
        using errcode = '22023', column = 'metadata',
              hint = 'wrap the value in an object, e.g. {"order_id": 42}';
    elsif octet_length(sms_send.metadata::text) > 8192 then
      raise exception 'metadata is % bytes as JSON text; at most 8192 are allowed', octet_length(sms_send.metadata::text)
        using errcode = '22001', column = 'metadata',
              hint = 'store large data in your own table and put its key in metadata';
    end if;
    v_metadata := sms_send.metadata;
  end if;

  if sms_send.idempotency_key is null then
    insert into public.sms_outbox
      (recipient, sender, body, encoding, segments, priority, send_at, expires_at, next_attempt_at, metadata)
    select v_recipient, coalesce(v_sender, s.default_sender), sms_send.body, v_encoding, v_segments,
           v_priority, v_send_at, coalesce(v_expires_at, v_due + s.default_validity), v_due, v_metadata
      from public.sms_settings s
     where v_segments <= s.max_segments
       and coalesce(v_sender, s.default_sender) is not null
    returning id, (select w.armed_until > now() from public.sms_wakeup w) into v_id, v_armed;
  else
    if sms_send.idempotency_key = '' then
      raise exception 'idempotency_key must not be empty; pass NULL for none'
        using errcode = '22023', column = 'idempotency_key';
    elsif char_length(sms_send.idempotency_key) > 255 then
      raise exception 'idempotency_key has % characters; at most 255 are allowed', char_length(sms_send.idempotency_key)
        using errcode = '22001', column = 'idempotency_key';
    end if;
    -- ON CONFLICT waits for a concurrent transaction holding the same key: if it commits, the
    -- row is found below; if it rolls back, this insert goes through.
    insert into public.sms_outbox
      (recipient, sender, body, encoding, segments, priority, send_at, expires_at, next_attempt_at, metadata, idempotency_key)
    select v_recipient, coalesce(v_sender, s.default_sender), sms_send.body, v_encoding, v_segments,
           v_priority, v_send_at, coalesce(v_expires_at, v_due + s.default_validity), v_due, v_metadata,
           sms_send.idempotency_key
      from public.sms_settings s
     where v_segments <= s.max_segments
       and coalesce(v_sender, s.default_sender) is not null
    on conflict (idempotency_key) where idempotency_key is not null do nothing
    returning id, (select w.armed_until > now() from public.sms_wakeup w) into v_id, v_armed;
  end if;

  if v_id is null then
    -- Nothing inserted: the idempotency key is taken, or a setting refused the message. The key
    -- comes first: a repeat returns the message it repeats even if the settings changed since.
    if sms_send.idempotency_key is not null then
      select o.id, o.recipient, o.body into v_prior
        from public.sms_outbox o
       where o.idempotency_key = sms_send.idempotency_key;
      if found then
        if v_prior.recipient = v_recipient and v_prior.body = sms_send.body then
          return v_prior.id;                                 -- a repeat: nothing inserted, no wake-up
        end if;
        raise exception 'idempotency_key % was already used for a different message (id %)',
            quote_literal(sms_send.idempotency_key), v_prior.id
          using errcode = '23505', column = 'idempotency_key',
                detail = case when v_prior.recipient <> v_recipient then 'The recipient differs.' else 'The body differs.' end,
                hint = 'a repeat must have the same recipient and body; use a new key for a new message';
      end if;
    end if;
    select s.default_sender, s.max_segments into cfg from public.sms_settings s;
    if not found then
      raise exception 'sms-outbox is not set up: sms_settings has no row'
        using errcode = '55000', hint = 'insert into sms_settings default values;';
    end if;
    if v_segments > cfg.max_segments then
      perform public.sms_check_body(sms_send.body, cfg.max_segments);   -- raises 22001 with the details
    end if;
    if v_sender is null and cfg.default_sender is null then
      raise exception 'sender is null and no default sender is configured'
        using errcode = '22004', column = 'sender',
              hint = 'pass sender, or set a default: update sms_settings set default_sender = ''MyBrand''; (or SMS_DEFAULT_SENDER for sms-outbox migrate)';
    end if;
    if sms_send.idempotency_key is not null then
      -- ON CONFLICT saw the key, but the row was gone by the SELECT (purged): start over.
      return public.sms_send(sms_send.recipient, sms_send.body, sms_send.sender, sms_send.send_at,
                             sms_send.expires_at, sms_send.priority, sms_send.idempotency_key, sms_send.metadata);
    end if;
    raise exception 'sms_send inserted nothing and found no reason (this is a bug in sms-outbox)'
      using errcode = 'XX000';
  end if;

  -- Wake an idle worker. NOTIFY is transactional: delivered at commit, discarded on rollback,
  -- and identical notifications in one transaction are folded into one. While the worker is
  -- draining it disarms the switch and enqueues skip the NOTIFY (which serialises commits).
  -- The switch is read in the INSERT's snapshot, so a worker that arms it after that and
  -- re-checks the queue before this transaction commits does not see this row: the worker
  -- re-checks once more a second after arming, and the sms_drain cron job each minute.
  if v_armed then
    perform pg_notify('sms_outbox_wakeup', '');
  end if;
  return v_id;
end
$$;

comment on function public.sms_send(text, text, text, timestamptz, timestamptz, integer, text, jsonb) is
  'sms-outbox: enqueue one SMS inside the caller''s transaction; returns its id. Rejects bad input with a class-22/23 SQLSTATE naming the argument (also in the error''s COLUMN field).';


-- sms_cancel: true when the message was still queued (not yet handed to the SMSC) and is now
-- cancelled; false when it is unknown, being sent, or already final. A worker that has claimed
-- the row holds it locked; cancel then waits for that transaction and sees 'sending'.
create function public.sms_cancel(id uuid) returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if sms_cancel.id is null then
    raise exception 'id must not be null'
      using errcode = '22004', column = 'id';
  end if;
  update public.sms_outbox o
     set status = 'cancelled', done_at = now(), updated_at = now()
   where o.id = sms_cancel.id
     and o.status = 'queued';
  return found;
end
$$;

comment on function public.sms_cancel(uuid) is
  'sms-outbox: cancel a queued message; true when it was queued and is now cancelled, false otherwise';


create type public.sms_status_row as (
  id              uuid,
  status          text,
  recipient       text,
  sender          text,
  segments        integer,
  encoding        text,
  attempts        integer,
  priority        integer,
  created_at      timestamptz,
  send_at         timestamptz,
  expires_at      timestamptz,
  next_attempt_at timestamptz,
  submitted_at    timestamptz,
  done_at         timestamptz,
  error_code      text,
  error_message   text,
  message_ids     text[],
  receipt_state   text,
  receipt_error   text,
  idempotency_key text,
  metadata        jsonb
);

comment on type public.sms_status_row is 'sms-outbox: the row sms_status returns';

-- sms_status: one row for a known id, none for an unknown one. The body is left out on purpose:
-- it often holds a one-time code; the reader role can select it from sms_outbox.
create function public.sms_status(id uuid) returns setof public.sms_status_row
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if sms_status.id is null then
    raise exception 'id must not be null'
      using errcode = '22004', column = 'id';
  end if;
  return query
    select o.id, o.status, o.recipient, o.sender, o.segments, o.encoding, o.attempts, o.priority::integer,
           o.created_at, o.send_at, o.expires_at, o.next_attempt_at, o.submitted_at, o.done_at,
           o.error_code, o.error_message, o.message_ids, o.receipt_state, o.receipt_error,
           o.idempotency_key, o.metadata
      from public.sms_outbox o
     where o.id = sms_status.id;
end
$$;

comment on function public.sms_status(uuid) is
  'sms-outbox: status of one message (zero rows for an unknown id)';


-- sms_segments: the counter sms_send uses, so an app can preview what a text costs. It counts
-- any text (NULL gives NULLs); whether sms_send would accept it (non-blank, no control
-- characters, within sms_settings.max_segments) is sms_send's business.
create function public.sms_segments(body text, out encoding text, out units integer, out segments integer)
language sql immutable strict security definer
set search_path = pg_catalog, pg_temp
as $$
  select c.encoding, c.units, c.segments from public.sms_count_segments($1) c
$$;

comment on function public.sms_segments(text) is
  'sms-outbox: encoding (gsm7/ucs2), units (septets or UTF-16 code units) and segments a body needs';


-- sms_stats: one row for dashboards, alerts and `sms-outbox status`. Each figure reads an index
-- (the live statuses through their partial indexes, the finished ones through an index-only
-- scan of sms_outbox_done_idx), not the whole table.
create view public.sms_stats as
with finished as (
  select count(*) filter (where o.status = 'delivered')   as delivered,
         count(*) filter (where o.status = 'undelivered') as undelivered,
         count(*) filter (where o.status = 'expired')     as expired,
         count(*) filter (where o.status = 'rejected')    as rejected,
         count(*) filter (where o.status = 'failed')      as failed,
         count(*) filter (where o.status = 'cancelled')   as cancelled,
         count(*) filter (where o.status = 'delivered' and o.done_at >= now() - interval '1 minute') as delivered_last_minute
    from public.sms_outbox o
   where o.done_at is not null
)
select (select count(*) from public.sms_outbox o where o.status = 'queued')  as queued,
       (select count(*) from public.sms_outbox o where o.status = 'sending') as sending,
       (select count(*) from public.sms_outbox o where o.status = 'sent')    as sent,
       f.delivered,
       f.undelivered,
       f.expired,
       f.rejected,
       f.failed,
       f.cancelled,
       now() - (select min(o.next_attempt_at) from public.sms_outbox o
                 where o.status = 'queued' and o.next_attempt_at <= now()) as oldest_queued_age,
       (select count(*) from public.sms_outbox o
         where o.submitted_at >= now() - interval '1 minute')            as sent_last_minute,
       f.delivered_last_minute
  from finished f;

comment on view public.sms_stats is
  'sms-outbox: messages per status, age of the oldest due queued message (NULL when none), sent (accepted by the SMSC) and delivered in the last minute';


-- Graphile Worker's schema is installed after these migrations, so the worker role's rights on
-- it are granted by this function, which `sms-outbox migrate` calls after installing it (and
-- again on every run, so tables added by a Graphile upgrade are covered). Graphile enables row
-- level security on its tables without policies (only their owner may use them), so the worker
-- role also gets a policy allowing it every row.
create function public.sms_grant_worker_graphile() returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  t regclass;
begin
  if to_regnamespace('graphile_worker') is null then
    raise exception 'schema graphile_worker does not exist; sms-outbox migrate installs it before calling sms_grant_worker_graphile()'
      using errcode = '3F000';
  end if;
  grant usage on schema graphile_worker to sms_worker;
  grant all on all tables in schema graphile_worker to sms_worker;
  grant all on all sequences in schema graphile_worker to sms_worker;
  grant all on all routines in schema graphile_worker to sms_worker;
  for t in
    select c.oid::regclass
      from pg_class c
     where c.relnamespace = 'graphile_worker'::regnamespace
       and c.relkind in ('r', 'p')
       and c.relrowsecurity
       and not exists (select from pg_policy p where p.polrelid = c.oid and p.polname = 'sms_worker_all')
  loop
    execute format('create policy sms_worker_all on %s for all to sms_worker using (true) with check (true)', t);
  end loop;
end
$$;

comment on function public.sms_grant_worker_graphile() is
  'sms-outbox: grants sms_worker what Graphile Worker needs on schema graphile_worker; called by sms-outbox migrate';
