-- sms-outbox 0012: Supabase phone sign-in through sms-outbox (Supabase Auth's Send SMS Hook).
--
-- Supabase Auth can hand every SMS it would send (sign-in and sign-up codes, phone changes,
-- reauthentication, MFA challenges) to a Postgres function instead of a built-in provider:
-- public.sms_auth_send_sms_hook(event jsonb) returns jsonb. Auth calls it logged in as
-- supabase_auth_admin, inside the transaction of the request that made the code, with
-- statement_timeout at 2 s, as
--
--   select "public"."sms_auth_send_sms_hook"($1)         -- $1: the event, JSON
--
-- and reads the answer: {} is success; {"error": {"http_code": N, "message": "..."}} makes the
-- request fail with that HTTP status and message (the app sees them), and Auth rolls its
-- transaction back. The event carries the user (user.id, user.phone, ...) and sms.otp, the code;
-- newer Auth versions add sms.phone, the number the code is for (the new number of a phone
-- change, an MFA factor's number), and sms.sms_type.
--
-- What the hook does with it:
--   * the text comes from a template in sms_auth_hook_settings (the code, a product name, an
--     optional Android SMS Retriever app hash as the last line); the encoding is sms_send's
--     choice, so GSM-7 when the template is (the default is);
--   * enqueued through sms_send's own rules (sms_private.send) at high priority, owned by the
--     caller (supabase_auth_admin), expiring when the code does (code_validity), with an
--     idempotency key made from the user and the code: the same event twice sends one SMS;
--   * SMS pumping protection, since sign-in is open to anyone: at most per_phone_limit codes per
--     number per per_phone_window, at most per_minute_limit codes a minute in all, and only to
--     allowed_country_prefixes when that is set. Exact under concurrent calls;
--   * never raises: every problem is an error object (400 bad event or phone, 403 a country not
--     allowed, 429 a limit, 500 anything else), counted by reason (sms_auth_hook_refusals()),
--     and neither the answer nor the log ever holds the code.
--
-- Each code is also a row of public.sms_auth_code (user, phone, status; never the code), whose
-- status follows the message's, so an app can tell whether the code arrived: through
-- sms_auth_code_status(phone | user_id) (service_role, reader role), Supabase Realtime on
-- sms_auth_code, or LISTEN sms_status with the message id it gives.
--
-- On plain PostgreSQL nothing here needs Supabase's roles: supabase_auth_admin gets EXECUTE
-- from sms_grant_supabase_roles() wherever and whenever that role exists (every `sms-outbox
-- migrate` calls it), and nobody else does.


-- 1. Settings -------------------------------------------------------------------------------

create table public.sms_auth_hook_settings (
  id                       boolean primary key default true check (id),
  -- The text: {code} is replaced by the code, {product} by product_name.
  template                 text not null default '{code} is your {product} code. Do not share it.',
  product_name             text not null default 'sign-in' check (char_length(product_name) between 1 and 64),
  -- Android SMS Retriever: the app's 11-character hash, sent as the last line. NULL: none.
  app_hash                 text check (app_hash ~ '^[A-Za-z0-9+/]{11}$'),
  -- NULL: sms_settings.default_sender.
  sender                   text,
  -- How long a code may wait to be sent: match the OTP expiry of Supabase Auth (60 s unless
  -- changed). A code still unsent by then is never sent (status expired).
  code_validity            interval not null default '1 minute'
                           check (code_validity between interval '1 second' and interval '1 day'),
  priority                 integer not null default 10 check (priority between -10 and 10),
  per_phone_limit          integer not null default 5 check (per_phone_limit >= 0),
  per_phone_window         interval not null default '1 hour'
                           check (per_phone_window between interval '1 minute' and interval '31 days'),
  -- Codes per calendar minute, all numbers together. NULL: no ceiling.
  per_minute_limit         integer default 100 check (per_minute_limit >= 0),
  -- Country codes (or longer prefixes) codes may go to, digits only, e.g. {7,375}. NULL: all.
  allowed_country_prefixes text[],
  -- Signed-in users may read their own rows of sms_auth_code (REST, Realtime).
  users_see_own_codes      boolean not null default false,
  updated_at               timestamptz not null default now()
);

comment on table public.sms_auth_hook_settings is
  'sms-outbox: how sms_auth_send_sms_hook (Supabase Auth''s Send SMS Hook) writes and limits sign-in codes (one row); change with UPDATE';
comment on column public.sms_auth_hook_settings.template is '{code}: the one-time code (required); {product}: product_name';
comment on column public.sms_auth_hook_settings.app_hash is 'Android SMS Retriever app hash (11 characters), sent as the last line; NULL for none';
comment on column public.sms_auth_hook_settings.sender is 'sender of the codes; NULL: sms_settings.default_sender';
comment on column public.sms_auth_hook_settings.code_validity is 'a code not sent within this long after Auth made it is never sent (expired): match Auth''s OTP expiry';
comment on column public.sms_auth_hook_settings.per_phone_limit is 'codes per phone number within per_phone_window (0 blocks); past it the hook answers 429';
comment on column public.sms_auth_hook_settings.per_minute_limit is 'codes per calendar minute for all numbers together; NULL for no ceiling; past it 429';
comment on column public.sms_auth_hook_settings.allowed_country_prefixes is 'digit prefixes codes may go to (country codes, e.g. {7,375}); NULL: every country; others get 403';
comment on column public.sms_auth_hook_settings.users_see_own_codes is 'true: Supabase''s authenticated role may SELECT its own rows of sms_auth_code (REST, Realtime)';

-- The text of one code: the template with {code} and {product} filled in, then the app hash line.
-- {product} is filled after {code}, so a product name cannot add codes.
create function sms_private.auth_hook_text(cfg public.sms_auth_hook_settings, otp text)
returns text
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.replace(pg_catalog.replace(cfg.template, '{code}', otp), '{product}', cfg.product_name)
         || coalesce(E'\n' || cfg.app_hash, '')
$$;

-- Checked when set, so a bad value fails the UPDATE instead of every sign-in.
create function sms_private.auth_hook_settings_check() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  placeholder text;
  prefix text;
  max_segments integer;
  state text;
  problem text;
begin
  if pg_catalog.strpos(new.template, '{code}') = 0 then
    raise exception 'template must contain {code}, where the one-time code goes'
      using errcode = '22023', column = 'template',
            hint = 'e.g. update sms_auth_hook_settings set template = ''{code} is your {product} code'';';
  end if;
  placeholder := pg_catalog.substring(pg_catalog.regexp_replace(new.template, '\{(code|product)\}', '', 'g'), '\{[A-Za-z_]*\}');
  if placeholder is not null then
    raise exception 'template contains %, which is not replaced: only {code} and {product} are', placeholder
      using errcode = '22023', column = 'template';
  end if;
  if new.product_name ~ '[\u0001-\u001F\u007F-\u009F]' then
    raise exception 'product_name must be printable text on one line'
      using errcode = '22021', column = 'product_name';
  end if;
  if new.allowed_country_prefixes is not null then
    foreach prefix in array new.allowed_country_prefixes loop
      if prefix is null or prefix !~ '^[1-9][0-9]{0,5}$' then
        raise exception 'allowed_country_prefixes has %; expected country codes (or longer prefixes) as digits, e.g. {7,375}',
            coalesce(pg_catalog.quote_literal(prefix), 'NULL')
          using errcode = '22023', column = 'allowed_country_prefixes',
                hint = 'NULL allows every country; ''{}'' allows none';
      end if;
    end loop;
  end if;
  new.sender := sms_private.check_sender(new.sender, 'sender');
  -- The text must pass sms_send's rules with the longest code Supabase Auth makes (10 digits).
  select s.max_segments into max_segments from public.sms_settings s;
  begin
    perform sms_private.check_body(sms_private.auth_hook_text(new, '0123456789'), coalesce(max_segments, 10));
  exception when data_exception then
    get stacked diagnostics state = returned_sqlstate, problem = message_text;
    raise exception 'template (with product_name and app_hash) makes a text sms_send refuses: %', problem
      using errcode = state, column = 'template';
  end;
  new.updated_at := now();
  return new;
end
$$;

create trigger sms_auth_hook_settings_check
  before insert or update on public.sms_auth_hook_settings
  for each row execute function sms_private.auth_hook_settings_check();

insert into public.sms_auth_hook_settings default values;


-- 2. The codes sent ---------------------------------------------------------------------------

-- One row per code the hook queued: what the per-phone limit counts, and what apps read to know
-- whether the code arrived. No code in it. Rows go after a day (or the per-phone window, if
-- longer), a few with every code sent.
create table public.sms_auth_code (
  outbox_id  uuid primary key,
  created_at timestamptz not null default now(),
  -- The event's user.id; NULL when the event had none.
  user_id    uuid,
  -- International digits, as sms_outbox.recipient.
  phone      text not null,
  -- The event's sms.sms_type when Auth says (e.g. 'mfa'); NULL otherwise.
  sms_type   text,
  -- The message's status, kept in step by a trigger on sms_outbox.
  status     text not null default 'queued',
  expires_at timestamptz not null,
  updated_at timestamptz not null default now()
);

comment on table public.sms_auth_code is
  'sms-outbox: one row per sign-in code sms_auth_send_sms_hook queued (never the code): who, which number, and the status of its SMS (sms_outbox row outbox_id), kept in step';

create index sms_auth_code_phone_idx on public.sms_auth_code (phone, created_at);
create index sms_auth_code_user_idx on public.sms_auth_code (user_id, created_at);
create index sms_auth_code_created_at_idx on public.sms_auth_code (created_at);

-- The status of a code's message, copied when it changes (by the worker, sms_cancel, the
-- expiry sweep). The condition is tested on every status change of sms_outbox; it costs the
-- other messages a look at their metadata, which is NULL for most.
create function sms_private.auth_code_follow_status() returns trigger
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  update public.sms_auth_code c
     set status = new.status, updated_at = now()
   where c.outbox_id = new.id
     and c.status is distinct from new.status;
  return null;
end
$$;

create trigger sms_auth_code_follow_status
  after update of status on public.sms_outbox
  for each row
  when (old.status is distinct from new.status and (new.metadata ->> 'via') = 'supabase_auth_hook')
  execute function sms_private.auth_code_follow_status();


-- 3. Internals of the hook ----------------------------------------------------------------

-- The key that makes the idempotency key of a code unguessable: sms_outbox.idempotency_key is
-- readable (sms_status, the reader role), and a plain hash of a user id and a 6-digit code
-- would give the code away to anyone trying the million candidates.
create table sms_private.auth_hook_secret (
  id     boolean primary key default true check (id),
  secret text not null
);
alter table sms_private.auth_hook_secret enable row level security;
insert into sms_private.auth_hook_secret (secret)
  values (pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')), 'hex'));

comment on table sms_private.auth_hook_secret is
  'sms-outbox: key of the hash in the idempotency keys of sign-in codes (so the readable key does not reveal the code)';

-- One row per phone number, locked by each code counted for it until the caller's transaction
-- ends, so concurrent calls for one number count one after the other. Under REPEATABLE READ
-- and SERIALIZABLE, a caller whose snapshot predates another's code for the number gets a
-- serialization failure here (answered 429) instead of counting stale rows.
create table sms_private.auth_hook_lock (
  key        text primary key,
  touched_at timestamptz not null default now()
);
alter table sms_private.auth_hook_lock enable row level security;

-- Codes sent per calendar minute, for per_minute_limit: one row per minute, incremented only
-- while under the limit (the increment waits for, and then sees, a concurrent one).
create table sms_private.auth_hook_minute (
  minute timestamptz primary key,
  sent   integer not null
);
alter table sms_private.auth_hook_minute enable row level security;

-- Refusals by reason. Auth rolls its transaction back when the hook answers an error, and with
-- it anything the hook wrote; sequences are not transactional, so a refusal counts anyway.
-- (After a crash a sequence may have skipped ahead by up to 32: the counts are never low.)
create sequence sms_private.auth_hook_refused_bad_event;
create sequence sms_private.auth_hook_refused_bad_phone;
create sequence sms_private.auth_hook_refused_country;
create sequence sms_private.auth_hook_refused_phone_limit;
create sequence sms_private.auth_hook_refused_global_limit;
create sequence sms_private.auth_hook_refused_busy;
create sequence sms_private.auth_hook_refused_error;

-- The reasons, in the order sms_auth_hook_refusals() lists them; one sequence each above.
create function sms_private.auth_hook_refusal_reasons() returns text[]
language sql immutable parallel safe
set search_path = pg_catalog, pg_temp
as $$
  select array['bad_event', 'bad_phone', 'country', 'phone_limit', 'global_limit', 'busy', 'error']
$$;

-- Counts a refusal and makes the answer Supabase Auth expects.
create function sms_private.auth_hook_refusal(reason text, http_code integer, message text)
returns jsonb
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if not reason = any (sms_private.auth_hook_refusal_reasons()) then
    reason := 'error';
  end if;
  perform pg_catalog.nextval(pg_catalog.format('sms_private.%I', 'auth_hook_refused_' || reason)::regclass);
  return pg_catalog.jsonb_build_object('error', pg_catalog.jsonb_build_object('http_code', http_code, 'message', message));
end
$$;


-- 4. The hook -------------------------------------------------------------------------------
--
-- Order: the event, the number, the country, then (holding the number's lock) a repeat of the
-- same event, the number's limit, the minute's limit, and only then the message. Answers:
--
--   {}                                        queued, or already queued by the same event
--   400  bad_event     the event is not an object, or has no code in sms.otp (4-10 digits)
--   400  bad_phone     no phone number, or not a plausible international number
--   403  country       the number's country is not in allowed_country_prefixes (a policy
--                      refusal of a valid number, not a malformed request)
--   429  phone_limit   per_phone_limit codes for this number within per_phone_window
--   429  global_limit  per_minute_limit codes this minute
--   429  busy          a concurrent call held the number's (or the minute's) row past
--                      lock_timeout, or raced it under REPEATABLE READ / SERIALIZABLE
--   500  error         anything else (e.g. no sender configured); SQLSTATE in the message, the
--                      error itself in the server log with the code masked
--
-- lock_timeout stays under the 2 s statement_timeout Auth sets, so a wait that long is answered
-- (429) rather than cancelled.
create function public.sms_auth_send_sms_hook(event jsonb)
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
    when serialization_failure or deadlock_detected or lock_not_available then
      return sms_private.auth_hook_refusal('busy', 429, 'too many sign-in codes at once; try again in a few seconds');
    when others then
      get stacked diagnostics v_state = returned_sqlstate, v_message = message_text;
      raise log 'sms_auth_send_sms_hook: the code was not queued: % %', v_state,
        case when v_otp is null or v_otp = '' then v_message else pg_catalog.replace(v_message, v_otp, '******') end;
      return sms_private.auth_hook_refusal('error', 500, pg_catalog.format(
        'the sign-in code could not be queued (SQLSTATE %s); the database log has the details', v_state));
  end;
end
$$;

comment on function public.sms_auth_send_sms_hook(jsonb) is
  'sms-outbox: Supabase Auth''s Send SMS Hook (pg-functions://postgres/public/sms_auth_send_sms_hook): queues the code from the event and answers {} or {"error": {"http_code", "message"}}; never raises. EXECUTE for supabase_auth_admin only.';


-- 5. What apps and operators read -------------------------------------------------------------

-- Refusals since the install, by reason (the worker exports them as sms_auth_hook_refusals_total).
create function public.sms_auth_hook_refusals(out reason text, out refusals bigint)
returns setof record
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  foreach reason in array sms_private.auth_hook_refusal_reasons() loop
    execute pg_catalog.format('select case when s.is_called then s.last_value else 0 end from sms_private.%I s',
                              'auth_hook_refused_' || reason)
      into refusals;
    return next;
  end loop;
end
$$;

comment on function public.sms_auth_hook_refusals() is
  'sms-outbox: how often sms_auth_send_sms_hook refused a code since the install, by reason (bad_event, bad_phone, country, phone_limit, global_limit, busy, error)';

-- The latest code for a phone number or a user, with its message's status and receipt, and
-- whether offering "resend" makes sense: the code ended without being delivered (undelivered,
-- expired, rejected, failed, cancelled), or it has expired anyway. No row: no code in the last
-- day (or per_phone_window). Never the code.
create type public.sms_auth_code_status_row as (
  outbox_id      uuid,
  user_id        uuid,
  phone          text,
  sms_type       text,
  status         text,
  created_at     timestamptz,
  expires_at     timestamptz,
  submitted_at   timestamptz,
  done_at        timestamptz,
  attempts       integer,
  receipt_state  text,
  error_code     text,
  resend_advised boolean
);

comment on type public.sms_auth_code_status_row is 'sms-outbox: the row sms_auth_code_status returns';

create function public.sms_auth_code_status(phone text default null, user_id uuid default null)
returns setof public.sms_auth_code_status_row
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_phone text;
begin
  if sms_auth_code_status.phone is null and sms_auth_code_status.user_id is null then
    raise exception 'pass phone or user_id'
      using errcode = '22004', column = 'phone';
  end if;
  if sms_auth_code_status.phone is not null then
    begin
      v_phone := sms_private.check_recipient(sms_auth_code_status.phone);
    exception when data_exception then
      raise exception 'phone % is not a plausible international number, e.g. +79991234567',
          pg_catalog.quote_literal(pg_catalog.left(sms_auth_code_status.phone, 64))
        using errcode = '22023', column = 'phone';
    end;
  end if;
  return query
    select c.outbox_id, c.user_id, c.phone, c.sms_type, coalesce(o.status, c.status), c.created_at, c.expires_at,
           o.submitted_at, o.done_at, o.attempts, o.receipt_state, o.error_code,
           coalesce(o.status, c.status) in ('undelivered', 'expired', 'rejected', 'failed', 'cancelled') or c.expires_at <= now()
      from public.sms_auth_code c
      left join public.sms_outbox o on o.id = c.outbox_id
     where (v_phone is null or c.phone = v_phone)
       and (sms_auth_code_status.user_id is null or c.user_id = sms_auth_code_status.user_id)
     order by c.created_at desc, c.outbox_id desc
     limit 1;
end
$$;

comment on function public.sms_auth_code_status(text, uuid) is
  'sms-outbox: status and receipt of the latest sign-in code for a phone number or a user, and whether to offer "resend" (never the code); for service_role and the reader role';


-- 6. Who may do what --------------------------------------------------------------------------

-- sms_grant_supabase_roles (0010), plus what this migration adds, where the roles exist:
--   supabase_auth_admin  EXECUTE on the hook (and USAGE on schema public, which Supabase Auth
--                        needs to reach it, where this role may grant it)
--   service_role         also EXECUTE on sms_auth_code_status and SELECT on sms_auth_code
--                        (for Realtime from server code); never the hook
--   authenticated        SELECT on its own rows of sms_auth_code while users_see_own_codes
-- anon gets nothing. sms_strip_inherited_grants() calls this after stripping, so every later
-- migration and every `sms-outbox migrate` puts exactly these back.
create or replace function public.sms_grant_supabase_roles() returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  f text;
  users_see boolean;
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'service_role') then
    for f in
      select p.oid::regprocedure::text
        from pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a, sms_private.roles r
       where p.pronamespace = 'public'::regnamespace
         and p.proname like 'sms\_%'
         and a.grantee = pg_catalog.to_regrole(r.sender)
         and a.privilege_type = 'EXECUTE'
    loop
      execute pg_catalog.format('grant execute on function %s to service_role', f);
    end loop;
    grant execute on function public.sms_auth_code_status(text, uuid) to service_role;
    grant select on public.sms_auth_code to service_role;
  end if;
  if exists (select from pg_catalog.pg_roles where rolname = 'authenticated') then
    if coalesce((select s.enabled from public.sms_self_send_settings s), false) then
      grant execute on function public.sms_send_to_self(text, text) to authenticated;
    else
      revoke execute on function public.sms_send_to_self(text, text) from authenticated;
    end if;
    users_see := coalesce((select s.users_see_own_codes from public.sms_auth_hook_settings s), false);
    if users_see then
      if not exists (select from pg_catalog.pg_policy p
                      where p.polrelid = 'public.sms_auth_code'::regclass and p.polname = 'sms_auth_code_own_select') then
        create policy sms_auth_code_own_select on public.sms_auth_code for select to authenticated
          using (user_id::text = pg_catalog.lower(coalesce(
                   nullif(pg_catalog.current_setting('request.jwt.claim.sub', true), ''),
                   nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')));
      end if;
      grant select on public.sms_auth_code to authenticated;
    else
      revoke select on public.sms_auth_code from authenticated;
      drop policy if exists sms_auth_code_own_select on public.sms_auth_code;
    end if;
  end if;
  if exists (select from pg_catalog.pg_roles where rolname = 'supabase_auth_admin') then
    grant execute on function public.sms_auth_send_sms_hook(jsonb) to supabase_auth_admin;
    if pg_catalog.pg_has_role(current_user, (select n.nspowner from pg_catalog.pg_namespace n where n.nspname = 'public'), 'USAGE') then
      grant usage on schema public to supabase_auth_admin;
    end if;
  end if;
end
$$;

comment on function public.sms_grant_supabase_roles() is
  'sms-outbox: Supabase''s roles, where they exist: service_role EXECUTE on the sender functions and sms_auth_code_status and SELECT on sms_auth_code; authenticated EXECUTE on sms_send_to_self and its own sms_auth_code rows while opted in; supabase_auth_admin EXECUTE on sms_auth_send_sms_hook. sms-outbox migrate calls it on every run';

-- Switching users_see_own_codes grants or revokes at once.
create function sms_private.auth_hook_settings_regrant() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  perform public.sms_grant_supabase_roles();
  return null;
end
$$;

create trigger sms_auth_hook_settings_regrant
  after update of users_see_own_codes on public.sms_auth_hook_settings
  for each row when (old.users_see_own_codes is distinct from new.users_see_own_codes)
  execute function sms_private.auth_hook_settings_regrant();

alter table public.sms_auth_hook_settings enable row level security;
alter table public.sms_auth_code          enable row level security;

-- The reader role reads the settings, the codes (for dashboards and abuse reviews), the
-- refusals and the status function; the worker reads the refusals for its metrics.
grant select on public.sms_auth_hook_settings, public.sms_auth_code to sms_reader;
create policy sms_reader_select on public.sms_auth_hook_settings for select to sms_reader using (true);
create policy sms_reader_select on public.sms_auth_code          for select to sms_reader using (true);
grant execute on function public.sms_auth_hook_refusals() to sms_reader, sms_worker;
grant execute on function public.sms_auth_code_status(text, uuid) to sms_reader;

select public.sms_strip_inherited_grants();
