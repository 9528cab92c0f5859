-- sms-outbox 0018: sign-in codes kept from readers, the hook's error log, expiries before the
-- year 10000, and stop words in look-alike forms (issue 19).
--
-- 1. Sign-in codes. A code queued by sms_auth_send_sms_hook was in sms_outbox.body, which the
--    reader role (dashboards, support staff) and service_role after sms_allow_service_role_read
--    read: a live code there is a phone login anyone of them can take over. Now the hook keeps
--    the text in sms_outbox_secret, which only the worker role reads (its claim, src/db/outbox.ts),
--    and sms_outbox holds it blanked from the start, as redaction leaves a body (body '' with
--    body_hash and body_length). When the message leaves the queue (the SMSC accepted it, or it
--    failed, expired or was cancelled first) the text is deleted from sms_outbox_secret too and
--    redacted_at is set: from then on nobody can read the code, not even the worker. A code that
--    was never sent stays unreadable to everyone but the worker. Why a table of its own rather
--    than column privileges or a view: the reader keeps `select * from sms_outbox` as it is (every
--    other body, every other column of these rows), which a column grant would break, and
--    sms_outbox stays the table the contract names, for reads and for the apps' inserts; the
--    worker's claim reads one more row, by primary key, for sign-in messages only.
-- 2. The hook's error path wrote its message at LOG level. LOG is above the default
--    log_min_error_statement (error), so Postgres added a STATEMENT line with the caller's SQL,
--    which holds the whole event, code included, whenever the event was written into the SQL
--    text (psql, the SQL editor). It now writes a WARNING, which the default log_min_messages
--    keeps and log_min_error_statement does not follow with the statement. A statement timeout
--    (Auth sets 2 s) is answered 429 like a lock wait, so the hook raises nothing either.
-- 3. sms_send refuses, with 22008 naming send_at, a send_at so late that its default expiry
--    (send_at plus sms_settings.default_validity) falls in the year 10000 or later, which
--    PostgreSQL stores but ISO 8601 and many clients cannot read; default_validity is at most
--    100 years, so now() plus it stays far from there.
-- 4. Stop and start keywords are matched after Unicode NFKC (full-width ＳＴＯＰ, mathematical
--    𝐒𝐓𝐎𝐏), without combining marks, and with Latin, Cyrillic and Greek look-alike capitals
--    folded together ('SТОР' with Cyrillic letters is STOP; 'CTOП' with Latin ones is СТОП).


-- 1. Sign-in codes --------------------------------------------------------------------------

create table public.sms_outbox_secret (
  outbox_id uuid primary key references public.sms_outbox (id) on delete cascade,
  body      text not null
);

comment on table public.sms_outbox_secret is
  'sms-outbox: the text of a message only the worker may read (a sign-in code of sms_auth_send_sms_hook) while it is queued or sending; sms_outbox.body holds it blanked. Deleted when the message leaves the queue';

alter table public.sms_outbox_secret enable row level security;
create policy sms_worker_select on public.sms_outbox_secret for select to sms_worker using (true);
grant select on public.sms_outbox_secret to sms_worker;

comment on column public.sms_outbox.body_length is
  'the body''s length in characters when the body is not in this column: redacted (redacted_at), or a sign-in code held in sms_outbox_secret until it leaves the queue';

-- A message whose text is held in sms_outbox_secret (body_length set, redacted_at not yet)
-- leaves queued/sending: the text goes, and the row counts as redacted from now (sms_retry
-- then refuses it, an idempotent repeat compares body_hash). The WHEN is three column tests on
-- the row being updated: every other status change pays only those.
create function sms_private.outbox_secret_release() returns trigger
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  delete from public.sms_outbox_secret s where s.outbox_id = new.id;
  new.body := '';
  new.redacted_at := now();
  return new;
end
$$;

comment on function sms_private.outbox_secret_release() is
  'sms-outbox internal: a message whose text is in sms_outbox_secret left the queue: delete the text, mark the row redacted';

create trigger sms_outbox_secret_release
  before update of status on public.sms_outbox
  for each row
  when (new.body_length is not null and new.redacted_at is null and new.status not in ('queued', 'sending'))
  execute function sms_private.outbox_secret_release();

-- Codes already queued move to sms_outbox_secret; those of messages past the queue are blanked
-- now, with their receipts' copy of the first characters (as sms_redact does).
insert into public.sms_outbox_secret (outbox_id, body)
select o.id, o.body from public.sms_outbox o
 where (o.metadata ->> 'via') = 'supabase_auth_hook' and o.status in ('queued', 'sending')
   and o.body_length is null and o.redacted_at is null;
with blanked as (
  update public.sms_outbox o
     set body = '', body_hash = sms_private.body_hash(o.body), body_length = char_length(o.body),
         redacted_at = case when o.status in ('queued', 'sending') then null else now() end
   where (o.metadata ->> 'via') = 'supabase_auth_hook' and o.body_length is null and o.redacted_at is null
  returning o.id, o.redacted_at
)
update public.sms_receipt r
   set text = regexp_replace(r.text, '(text:).*$', '\1', 'i')
  from blanked b
 where r.outbox_id = b.id and b.redacted_at is not null and r.text ~* 'text:.';

-- The hook, as 0012 wrote it but for: the text into sms_outbox_secret (after sms_private.send),
-- a WARNING instead of a LOG line on its error path, and query_canceled answered 429.
create or replace function public.sms_auth_send_sms_hook(event jsonb)
returns jsonb
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
set lock_timeout = '1s'
as $$
declare
  cfg public.sms_auth_hook_settings;
  v_otp text;
  v_phone text;
  v_recipient text;
  v_user uuid;
  v_type text;
  v_owner text;
  v_key text;
  v_used integer;
  v_oldest timestamptz;
  v_id uuid;
  v_keep interval;
  v_state text;
  v_message text;
begin
  begin
    if event is null or pg_catalog.jsonb_typeof(event) <> 'object' then
      return sms_private.auth_hook_refusal('bad_event', 400, 'the Send SMS Hook event must be a JSON object');
    end if;
    if pg_catalog.jsonb_typeof(event -> 'sms') = 'object' then
      v_otp := event -> 'sms' ->> 'otp';
      v_phone := nullif(event -> 'sms' ->> 'phone', '');
      v_type := nullif(event -> 'sms' ->> 'sms_type', '');
    end if;
    if v_otp is null or v_otp !~ '^[0-9]{4,10}$' then
      return sms_private.auth_hook_refusal('bad_event', 400, 'the Send SMS Hook event has no one-time code in sms.otp');
    end if;
    if pg_catalog.jsonb_typeof(event -> 'user') = 'object' then
      v_phone := coalesce(v_phone, nullif(event -> 'user' ->> 'phone', ''));
      if (event -> 'user' ->> 'id') ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
        v_user := (event -> 'user' ->> 'id')::uuid;
      end if;
    end if;
    if v_type !~ '^[a-z_]{1,32}$' then
      v_type := null;
    end if;

    if v_phone is null then
      return sms_private.auth_hook_refusal('bad_phone', 400, 'no phone number to send the code to');
    end if;
    begin
      v_recipient := sms_private.check_recipient(v_phone);
    exception when data_exception then
      return sms_private.auth_hook_refusal('bad_phone', 400,
        'the phone number is not valid: expected an international number with its country code, e.g. +79991234567');
    end;

    select * into strict cfg from public.sms_auth_hook_settings;
    if cfg.allowed_country_prefixes is not null
       and not exists (select from pg_catalog.unnest(cfg.allowed_country_prefixes) p
                        where pg_catalog.starts_with(v_recipient, p)) then
      return sms_private.auth_hook_refusal('country', 403, 'sign-in by SMS is not available for this phone number''s country');
    end if;

    -- The same user and code: the same key (a repeat of this event finds the first message).
    select 'supabase-auth:' || pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(
             s.secret || ':' || coalesce(v_user::text, 'phone:' || v_recipient) || ':' || v_otp, 'UTF8')), 'hex')
      into v_key
      from sms_private.auth_hook_secret s;
    v_owner := sms_private.caller_owner();

    insert into sms_private.auth_hook_lock as l (key) values ('phone:' || v_recipient)
    on conflict (key) do update set touched_at = now();

    if exists (select from public.sms_outbox o where o.owner = v_owner and o.idempotency_key = v_key) then
      return '{}'::jsonb;
    end if;

    select count(*), min(c.created_at) into v_used, v_oldest
      from public.sms_auth_code c
     where c.phone = v_recipient and c.created_at > now() - cfg.per_phone_window;
    if v_used >= cfg.per_phone_limit then
      return sms_private.auth_hook_refusal('phone_limit', 429, pg_catalog.format(
        'too many codes for this phone number; try again after %s',
        pg_catalog.to_char((coalesce(v_oldest, now()) + cfg.per_phone_window + interval '1 second') at time zone 'UTC',
                           'YYYY-MM-DD"T"HH24:MI:SS"Z"')));
    end if;

    if cfg.per_minute_limit is not null then
      v_used := null;
      if cfg.per_minute_limit > 0 then
        insert into sms_private.auth_hook_minute as m (minute, sent) values (pg_catalog.date_trunc('minute', now()), 1)
        on conflict (minute) do update set sent = m.sent + 1 where m.sent < cfg.per_minute_limit
        returning m.sent into v_used;
      end if;
      if v_used is null then
        return sms_private.auth_hook_refusal('global_limit', 429, 'too many sign-in codes are being sent; try again in a minute');
      end if;
    end if;

    v_id := sms_private.send(
      owner           => v_owner,
      recipient       => v_recipient,
      body            => sms_private.auth_hook_text(cfg, v_otp),
      sender          => cfg.sender,
      send_at         => null,
      expires_at      => now() + cfg.code_validity,
      priority        => cfg.priority,
      idempotency_key => v_key,
      metadata        => pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                           'via', 'supabase_auth_hook', 'user_id', v_user, 'sms_type', v_type)));
    -- The code leaves sms_outbox.body at once: only the worker's claim reads it, from
    -- sms_outbox_secret, and it is gone from there too once the message leaves the queue.
    insert into public.sms_outbox_secret (outbox_id, body)
    select o.id, o.body from public.sms_outbox o
     where o.id = v_id and o.body_length is null and o.redacted_at is null
    on conflict (outbox_id) do nothing;
    update public.sms_outbox o
       set body = '', body_hash = sms_private.body_hash(o.body), body_length = pg_catalog.char_length(o.body)
     where o.id = v_id and o.body_length is null and o.redacted_at is null;
    insert into public.sms_auth_code (outbox_id, user_id, phone, sms_type, expires_at)
      values (v_id, v_user, v_recipient, v_type, now() + cfg.code_validity)
      on conflict (outbox_id) do nothing;

    -- Housekeeping: a few rows no limit counts any more go with every code.
    v_keep := greatest(cfg.per_phone_window, interval '1 day');
    delete from public.sms_auth_code d
     where d.outbox_id in (select c.outbox_id from public.sms_auth_code c
                            where c.created_at < now() - v_keep
                            order by c.created_at limit 10 for update skip locked);
    delete from sms_private.auth_hook_lock d
     where d.key in (select l.key from sms_private.auth_hook_lock l
                      where l.touched_at < now() - cfg.per_phone_window
                      limit 10 for update skip locked);
    delete from sms_private.auth_hook_minute d
     where d.minute in (select m.minute from sms_private.auth_hook_minute m
                         where m.minute < pg_catalog.date_trunc('minute', now()) - interval '1 minute'
                         limit 10 for update skip locked);
    return '{}'::jsonb;
  exception
    when serialization_failure or deadlock_detected or lock_not_available or query_canceled then
      return sms_private.auth_hook_refusal('busy', 429, 'too many sign-in codes at once; try again in a few seconds');
    when others then
      get stacked diagnostics v_state = returned_sqlstate, v_message = message_text;
      raise warning 'sms_auth_send_sms_hook: the code was not queued: % %', v_state,
        case when v_otp is null or v_otp = '' then v_message else pg_catalog.replace(v_message, v_otp, '******') end;
      return sms_private.auth_hook_refusal('error', 500, pg_catalog.format(
        'the sign-in code could not be queued (SQLSTATE %s); the database log has the details', v_state));
  end;
end
$$;



-- 2. The hook's answers and log -------------------------------------------------------------
--    (in the function above: raise warning, and query_canceled among the 429s)


-- 3. Expiries before the year 10000 -----------------------------------------------------------
--
-- sms_private.send as 0014 wrote it but for: the INSERTs refuse an expiry (given, or send_at plus
-- the default validity) from the year 10000 on, and the reasons after an empty INSERT name it.
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
  category        text default 'transactional'
) returns uuid
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_recipient text;
  v_body text;                    -- what is stored and sent: the body, or its smart-encoded form
  v_replaced integer := 0;
  v_smart record;
  v_sender text;                  -- NULL: sms_settings.default_sender
  v_encoding text;
  v_segments integer;
  v_count record;
  v_length integer;
  v_category text;
  v_opted_out boolean := false;
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
  -- Sizes first: nothing below scans a text longer than any message can be.
  if send.idempotency_key is not null then
    if send.idempotency_key = '' then
      raise exception 'idempotency_key must not be empty; pass NULL for none'
        using errcode = '22023', column = 'idempotency_key';
    elsif char_length(send.idempotency_key) > 255 then
      raise exception 'idempotency_key has % characters; at most 255 are allowed', char_length(send.idempotency_key)
        using errcode = '22001', column = 'idempotency_key';
    end if;
  end if;
  v_length := char_length(send.body);
  if v_length > 39015 then
    select s.max_segments into cfg from public.sms_settings s;
    raise exception 'body has % characters; the limit of % segments holds at most %', v_length,
        coalesce(cfg.max_segments, 255), greatest(160, 153 * coalesce(cfg.max_segments, 255))
      using errcode = '22001', column = 'body',
            hint = 'one segment holds 160 GSM-7 or 70 UCS-2 characters, each further part 153 or 67';
  end if;

  v_category := coalesce(send.category, 'transactional');
  if v_category not in ('transactional', 'marketing') then
    raise exception 'category must be ''transactional'' or ''marketing'', got %', quote_literal(left(v_category, 40))
      using errcode = '22023', column = 'category',
            hint = 'marketing messages are never sent to a recipient in sms_opt_out; transactional ones (codes, receipts) always are';
  end if;

  if send.recipient ~ '^\+?(?!89)[1-9][0-9]{6,14}$' then
    v_recipient := ltrim(send.recipient, '+');
  else
    v_recipient := sms_private.check_recipient(send.recipient);
  end if;

  -- The body's rules are checked on the text the app passed; what is counted and stored is the
  -- text that is sent (smart encoding, when on, replaces look-alikes if that makes it GSM-7).
  v_body := send.body;
  if v_length <= 70
     and send.body !~ '[\u0001-\u0008\u000B\u000E-\u001F\u007F-\u009F\uFFFD-\uFFFF\U00010000-\U0010FFFF]'
     and send.body ~ '[^\s\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u2800\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF0-\uFFFB]' then
    v_segments := 1;
  else
    v_count := sms_private.check_body(send.body);
    v_encoding := v_count.encoding;
    v_segments := v_count.segments;
  end if;
  if send.body ~ '[\t\u0060\u00A0\u00AB\u00AD\u00B4\u00BB\u02BC\u02C6\u02DC\u2000-\u200D\u2010-\u2015\u2018-\u201F\u2024-\u2026\u2028\u2029\u202F\u2032\u2033\u2035\u2036\u2039\u203A\u2043\u2044\u205F\u2060\u2212\u2215\u3000\uFE58\uFE63\uFEFF\uFF0D]'
     and coalesce((select s.smart_encoding from public.sms_settings s), true) then
    v_smart := sms_private.smart_text(send.body);
    if v_smart.replaced > 0 then
      v_body := v_smart.sent;
      v_replaced := v_smart.replaced;
      v_count := sms_private.count_segments(v_body);      -- the dots of an ellipsis may add a part
      v_encoding := v_count.encoding;
      v_segments := v_count.segments;
    end if;
  end if;
  if v_encoding is null then                              -- at most 70 characters: one part either way
    if v_body ~ '[^]\n\r -?@-Z_a-z\u00A1\u00A3-\u00A5\u00A7\u00BF\u00C4-\u00C7\u00C9\u00D1\u00D6\u00D8\u00DC\u00DF\u00E0\u00E4-\u00E6\u00E8\u00E9\u00EC\u00F1\u00F2\u00F6\u00F8\u00F9\u00FC\u0393\u0394\u0398\u039B\u039E\u03A0\u03A3\u03A6\u03A8\u03A9\f^{}\\[~|\u20AC]' then
      v_encoding := 'ucs2';
    else
      v_encoding := 'gsm7';
    end if;
  end if;

  if send.sender is not null then
    v_sender := sms_private.check_sender(send.sender);
  end if;

  -- send_at: NULL or a past time means now; the row is due at the later of the two. Times from
  -- the year 10000 on are refused: ISO 8601 and most clients stop at 9999, and adding the
  -- validity to the last time PostgreSQL can store overflows (22008 naming no argument).
  if send.send_at is null then
    v_send_at := now();
    v_due := v_send_at;
  elsif not isfinite(send.send_at) then
    raise exception 'send_at must be a finite time, got %', send.send_at
      using errcode = '22023', column = 'send_at';
  elsif send.send_at >= timestamptz '10000-01-01 00:00:00+00' then
    raise exception 'send_at % is too far in the future; expected a time before the year 10000', send.send_at
      using errcode = '22008', column = 'send_at';
  else
    v_send_at := send.send_at;
    v_due := greatest(v_send_at, now());
  end if;

  -- expires_at: NULL means the configured validity after the message is due (so a send_at in
  -- the past does not make a message born expired); the INSERT fills it in.
  if send.expires_at is not null then
    if not isfinite(send.expires_at) then
      raise exception 'expires_at must be a finite time, got %', send.expires_at
        using errcode = '22023', column = 'expires_at';
    elsif send.expires_at >= timestamptz '10000-01-01 00:00:00+00' then
      raise exception 'expires_at % is too far in the future; expected a time before the year 10000', send.expires_at
        using errcode = '22008', column = 'expires_at';
    elsif send.expires_at <= now() then
      raise exception 'expires_at % is in the past; expected a time after now (%)', send.expires_at, now()
        using errcode = '22023', column = 'expires_at';
    elsif send.expires_at <= v_due then
      raise exception 'expires_at % is not after send_at %; a message must be able to live after it is due', send.expires_at, v_due
        using errcode = '22023', column = 'expires_at';
    end if;
    v_expires_at := send.expires_at;
  end if;

  v_priority := coalesce(send.priority, 0);
  if v_priority < -10 or v_priority > 10 then
    raise exception 'priority must be between -10 and 10 (higher is sent first), got %', v_priority
      using errcode = '22003', column = 'priority';
  end if;

  if send.metadata is not null and jsonb_typeof(send.metadata) <> 'null' then   -- JSON null: none
    if jsonb_typeof(send.metadata) <> 'object' then
      raise exception 'metadata must be a JSON object, got a JSON %', jsonb_typeof(send.metadata)
        using errcode = '22023', column = 'metadata',
              hint = 'wrap the value in an object, e.g. {"order_id": 42}';
    elsif octet_length(send.metadata::text) > 8192 then
      raise exception 'metadata is % bytes as JSON text; at most 8192 are allowed', octet_length(send.metadata::text)
        using errcode = '22001', column = 'metadata',
              hint = 'store large data in your own table and put its key in metadata';
    end if;
    v_metadata := send.metadata;
  end if;

  -- A marketing message to a recipient who opted out is stored as rejected, never sent (the
  -- claim checks again, for an opt-out that arrives after this).
  if v_category = 'marketing' then
    v_opted_out := exists (select from public.sms_opt_out x where x.recipient = v_recipient);
  end if;

  if send.idempotency_key is null then
    insert into public.sms_outbox
      (owner, recipient, sender, body, encoding, segments, priority, send_at, expires_at, next_attempt_at, metadata,
       category, replaced_chars, status, done_at, error_code, error_message)
    select send.owner, v_recipient, coalesce(v_sender, s.default_sender), v_body, v_encoding, v_segments,
           v_priority, v_send_at, coalesce(v_expires_at, v_due + s.default_validity), v_due, v_metadata,
           v_category, v_replaced,
           case when v_opted_out then 'rejected' else 'queued' end,
           case when v_opted_out then now() end,
           case when v_opted_out then 'OPTED_OUT' end,
           case when v_opted_out then 'not sent: the recipient opted out of marketing messages (sms_opt_out)' end
      from public.sms_settings s
     where v_segments <= s.max_segments
       and coalesce(v_sender, s.default_sender) is not null
       and coalesce(v_expires_at, v_due + s.default_validity) < timestamptz '10000-01-01 00:00:00+00'
    returning id, (select w.armed_until > now() from public.sms_wakeup w) into v_id, v_armed;
  else
    -- ON CONFLICT waits for a concurrent transaction holding the same owner and key: if it
    -- commits, the row is found below; if it rolls back, this insert goes through. Another
    -- owner's key is another index entry: no conflict, no wait.
    insert into public.sms_outbox
      (owner, recipient, sender, body, encoding, segments, priority, send_at, expires_at, next_attempt_at, metadata,
       idempotency_key, category, replaced_chars, status, done_at, error_code, error_message)
    select send.owner, v_recipient, coalesce(v_sender, s.default_sender), v_body, v_encoding, v_segments,
           v_priority, v_send_at, coalesce(v_expires_at, v_due + s.default_validity), v_due, v_metadata,
           send.idempotency_key, v_category, v_replaced,
           case when v_opted_out then 'rejected' else 'queued' end,
           case when v_opted_out then now() end,
           case when v_opted_out then 'OPTED_OUT' end,
           case when v_opted_out then 'not sent: the recipient opted out of marketing messages (sms_opt_out)' end
      from public.sms_settings s
     where v_segments <= s.max_segments
       and coalesce(v_sender, s.default_sender) is not null
       and coalesce(v_expires_at, v_due + s.default_validity) < timestamptz '10000-01-01 00:00:00+00'
    on conflict (owner, idempotency_key) where idempotency_key is not null do nothing
    returning id, (select w.armed_until > now() from public.sms_wakeup w) into v_id, v_armed;
  end if;

  if v_id is null then
    -- Nothing inserted: the idempotency key is taken, or a setting refused the message. The key
    -- comes first: a repeat returns the message it repeats even if the settings changed since.
    if send.idempotency_key is not null then
      select o.id, o.recipient, o.body, o.redacted_at, o.body_hash into v_prior
        from public.sms_outbox o
       where o.owner = send.owner
         and o.idempotency_key = send.idempotency_key;
      if found then
        -- The same body as passed or as sent (smart encoding may have been switched since), or,
        -- once the body is redacted, the same hash.
        if v_prior.recipient = v_recipient
           and (case when v_prior.redacted_at is null then v_prior.body in (v_body, send.body)
                     else v_prior.body_hash in (sms_private.body_hash(v_body), sms_private.body_hash(send.body)) end) then
          return v_prior.id;                                 -- a repeat: nothing inserted, no wake-up
        end if;
        -- Neither the first message's id nor what differs: under a shared owner (service_role)
        -- the caller may not be the part of the app that sent it.
        raise exception 'idempotency_key % was already used for a different message', quote_literal(send.idempotency_key)
          using errcode = '23505', column = 'idempotency_key',
                hint = 'a repeat must have the same recipient and body; use a new key for a new message';
      end if;
    end if;
    select s.default_sender, s.max_segments, s.default_validity into cfg from public.sms_settings s;
    if not found then
      raise exception 'sms-outbox is not set up: sms_settings has no row'
        using errcode = '55000', hint = 'insert into sms_settings default values;';
    end if;
    if v_segments > cfg.max_segments then
      perform sms_private.check_body(v_body, cfg.max_segments);   -- raises 22001 with the details
    end if;
    if v_sender is null and cfg.default_sender is null then
      raise exception 'sender is null and no default sender is configured'
        using errcode = '22004', column = 'sender',
              hint = 'pass sender, or set a default: update sms_settings set default_sender = ''MyBrand''; (or SMS_DEFAULT_SENDER for sms-outbox migrate)';
    end if;
    if v_expires_at is null and v_due + cfg.default_validity >= timestamptz '10000-01-01 00:00:00+00' then
      -- The expiry sms_send computes (send_at plus the default validity) must be a time clients
      -- can read too, not only the times passed.
      if send.send_at is not null then
        raise exception 'send_at % is too far in the future: the message would expire (send_at plus the default validity, %) in the year 10000 or later',
            send.send_at, cfg.default_validity
          using errcode = '22008', column = 'send_at',
                hint = 'pass an earlier send_at, or an expires_at before the year 10000';
      end if;
      raise exception 'expires_at (now plus the default validity, %) would be in the year 10000 or later', cfg.default_validity
        using errcode = '22008', column = 'expires_at',
              hint = 'pass expires_at, or shorten sms_settings.default_validity';
    end if;
    if send.idempotency_key is not null then
      -- ON CONFLICT saw the key, but the row was gone by the SELECT (purged): start over.
      return sms_private.send(send.owner, send.recipient, send.body, send.sender, send.send_at,
                              send.expires_at, send.priority, send.idempotency_key, send.metadata, send.category);
    end if;
    raise exception 'sms_send inserted nothing and found no reason (this is a bug in sms-outbox)'
      using errcode = 'XX000';
  end if;

  if v_opted_out then
    -- Final at once: announced like every final status; nothing to wake a worker for.
    perform pg_notify('sms_status', json_build_object('id', v_id, 'status', 'rejected')::text);
    return v_id;
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



-- 4. Keywords in look-alike forms ---------------------------------------------------------------

-- keyword_form (0014) with NFKC first (full-width and mathematical letters, ligatures become
-- plain ones; needs a UTF8 database, the others keep 0014's form) and combining marks removed.
create or replace function sms_private.keyword_form(t text) returns text
language sql immutable strict parallel safe
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.translate(
           pg_catalog.upper(pg_catalog.regexp_replace(
             case when pg_catalog.getdatabaseencoding() = 'UTF8' then pg_catalog.normalize($1, 'NFKC') else $1 end,
             '[\s\u0021-\u002F\u003A-\u0040\u005B-\u0060\u007B-\u007E\u00A0-\u00BF\u00D7\u00F7\u0300-\u036F\u034F\u061C\u1680\u180E\u1AB0-\u1AFF\u1DC0-\u1DFF\u2000-\u206F\u20A0-\u20FF\u2100-\u214F\u2190-\u2BFF\u3000-\u303F\uFE00-\uFE0F\uFE10-\uFE2F\uFE30-\uFE6F\uFEFF\uFF01-\uFF0F\uFF1A-\uFF20\uFF3B-\uFF40\uFF5B-\uFF65\U0001F000-\U0001FAFF\U000E0000-\U000E007F]',
             '', 'g')),
           U&'\00E0\00E1\00E2\00E3\00E4\00E5\00E6\00E7\00E8\00E9\00EA\00EB\00EC\00ED\00EE\00EF\00F0\00F1\00F2\00F3\00F4\00F5\00F6\00F8\00F9\00FA\00FB\00FC\00FD\00FE\03AC\03AD\03AE\03AF\03B1\03B2\03B3\03B4\03B5\03B6\03B7\03B8\03B9\03BA\03BB\03BC\03BD\03BE\03BF\03C0\03C1\03C2\03C3\03C4\03C5\03C6\03C7\03C8\03C9\03CA\03CB\03CC\03CD\03CE\0430\0431\0432\0433\0434\0435\0436\0437\0438\0439\043A\043B\043C\043D\043E\043F\0440\0441\0442\0443\0444\0445\0446\0447\0448\0449\044A\044B\044C\044D\044E\044F\0450\0451\0452\0453\0454\0455\0456\0457\0458\0459\045A\045B\045C\045D\045E\045F',
           U&'\00C0\00C1\00C2\00C3\00C4\00C5\00C6\00C7\00C8\00C9\00CA\00CB\00CC\00CD\00CE\00CF\00D0\00D1\00D2\00D3\00D4\00D5\00D6\00D8\00D9\00DA\00DB\00DC\00DD\00DE\0386\0388\0389\038A\0391\0392\0393\0394\0395\0396\0397\0398\0399\039A\039B\039C\039D\039E\039F\03A0\03A1\03A3\03A3\03A4\03A5\03A6\03A7\03A8\03A9\03AA\03AB\038C\038E\038F\0410\0411\0412\0413\0414\0415\0416\0417\0418\0419\041A\041B\041C\041D\041E\041F\0420\0421\0422\0423\0424\0425\0426\0427\0428\0429\042A\042B\042C\042D\042E\042F\0400\0401\0402\0403\0404\0405\0406\0407\0408\0409\040A\040B\040C\040D\040E\040F')
$$;

-- keyword_skeleton: a keyword_form with the Cyrillic and Greek capitals that look like Latin ones
-- replaced by those (after Unicode's confusables): two texts with one skeleton look the same.
-- Compared, never stored: the lists keep their keywords as typed (in keyword_form).
--   Cyrillic А В Е К М Н О Р С Т У Х Ѕ І Ј Ԛ Ԝ Ү Һ Ӏ  ->  A B E K M H O P C T Y X S I J Q W Y H I
--   Greek    Α Β Ε Ζ Η Ι Κ Μ Ν Ο Ρ Τ Υ Χ              ->  A B E Z H I K M N O P T Y X
create function sms_private.keyword_skeleton(form text) returns text
language sql immutable strict parallel safe
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.translate($1,
           U&'\0410\0412\0415\041A\041C\041D\041E\0420\0421\0422\0423\0425\0405\0406\0408\051A\051C\04AE\04BA\04C0\0391\0392\0395\0396\0397\0399\039A\039C\039D\039F\03A1\03A4\03A5\03A7',
           'ABEKMHOPCTYXSIJQWYHIABEZHIKMNOPTYX')
$$;

comment on function sms_private.keyword_skeleton(text) is
  'sms-outbox internal: a keyword_form with Cyrillic and Greek look-alike capitals folded to Latin, for comparing keywords';

-- sms_settings_check as 0014 wrote it but for: default_validity at most 100 years (section 3),
-- and keywords compared by skeleton for the stop/start overlap.
create or replace function public.sms_settings_check() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  bad text;
begin
  new.default_sender := sms_private.check_sender(new.default_sender, 'default_sender');
  -- Every expiry sms_send computes from it must stay before the year 10000 (0018).
  if new.default_validity > interval '100 years'
     and (tg_op = 'INSERT' or new.default_validity is distinct from old.default_validity) then
    raise exception 'default_validity % is too long; at most 100 years', new.default_validity
      using errcode = '22023', column = 'default_validity';
  end if;
  -- Each keyword in its compared form, once, in the order given.
  select coalesce(array_agg(k order by pos), '{}') into new.stop_keywords
    from (select sms_private.keyword_form(w) as k, min(i) as pos
            from unnest(new.stop_keywords) with ordinality u(w, i) where w is not null group by 1) x;
  select coalesce(array_agg(k order by pos), '{}') into new.start_keywords
    from (select sms_private.keyword_form(w) as k, min(i) as pos
            from unnest(new.start_keywords) with ordinality u(w, i) where w is not null group by 1) x;
  if '' = any (new.stop_keywords) or '' = any (new.start_keywords) then
    raise exception 'a keyword must have a letter or digit: spaces, punctuation, symbols and emoji are ignored when keywords are compared'
      using errcode = '22023', column = case when '' = any (new.stop_keywords) then 'stop_keywords' else 'start_keywords' end;
  end if;
  if not (new.stop_keywords @> array['STOP', U&'\0421\0422\041E\041F']) then
    raise exception 'stop_keywords must include STOP and %', U&'\0421\0422\041E\041F'
      using errcode = '22023', column = 'stop_keywords',
            hint = format('add your own to them, e.g. update sms_settings set stop_keywords = stop_keywords || array[%L]', 'UNSUBSCRIBE');
  end if;
  -- Compared as incoming text is (look-alike letters folded): 'CTOП' and 'СТОП' are one keyword.
  select k into bad from unnest(new.stop_keywords) k
   where sms_private.keyword_skeleton(k) = any (select sms_private.keyword_skeleton(s) from unnest(new.start_keywords) s)
   limit 1;
  if bad is not null then
    raise exception 'keyword % is in both stop_keywords and start_keywords', quote_literal(bad)
      using errcode = '22023', column = 'start_keywords';
  end if;
  new.updated_at := now();
  return new;
end
$$;


-- The keyword trigger (0014) comparing skeletons; the keyword recorded is the list's entry it
-- matched ('STOP' for 'SТОР').
create or replace function sms_private.inbox_keyword() returns trigger
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  kw text;
  cfg record;
  action text;
  matched text;
  phone text;
begin
  new.keyword_action := null;
  if char_length(new.body) > 200 then
    return new;
  end if;
  kw := sms_private.keyword_skeleton(sms_private.keyword_form(new.body));
  if kw = '' then
    return new;
  end if;
  select s.stop_keywords, s.start_keywords into cfg from public.sms_settings s;
  select k into matched from unnest(cfg.stop_keywords) k where sms_private.keyword_skeleton(k) = kw limit 1;
  if matched is not null then
    action := 'opt_out';
  else
    select k into matched from unnest(cfg.start_keywords) k where sms_private.keyword_skeleton(k) = kw limit 1;
    if matched is null then
      return new;
    end if;
    action := 'opt_in';
  end if;
  -- The sender as sms_outbox.recipient stores numbers: international digits. Anything else (an
  -- alphanumeric sender, a national number) names no recipient: the keyword is ignored, visibly.
  phone := ltrim(translate(new.sender, E' \u00A0-.()', ''), '+');
  if phone !~ '^[1-9][0-9]{6,14}$' or left(phone, 2) = '89' then
    new.keyword_action := 'ignored';
    return new;
  end if;
  perform sms_private.change_opt_out(action = 'opt_out', phone, 'keyword', matched, new.id, null);
  new.keyword_action := action;
  return new;
end
$$;

-- Stored in the compared form of this migration (NFKC) from now on.
update public.sms_settings set stop_keywords = stop_keywords;

select public.sms_strip_inherited_grants();
