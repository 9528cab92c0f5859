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
--
-- The hook, its helpers and triggers live in sql/functions/ (public.sms_auth_send_sms_hook.sql,
-- sms_private.auth_*.sql, public.sms_auth_hook_refusals.sql, public.sms_auth_code_status.sql).


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

-- Checked when set (the trigger sms_auth_hook_settings_check), so a bad value fails the UPDATE
-- instead of every sign-in.
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


-- 4. What apps and operators read -----------------------------------------------------------

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


-- 5. Who may do what --------------------------------------------------------------------------

alter table public.sms_auth_hook_settings enable row level security;
alter table public.sms_auth_code          enable row level security;

-- The reader role reads the settings, the codes (for dashboards and abuse reviews), the
-- refusals and the status function; the worker reads the refusals for its metrics.
grant select on public.sms_auth_hook_settings, public.sms_auth_code to sms_reader;
create policy sms_reader_select on public.sms_auth_hook_settings for select to sms_reader using (true);
create policy sms_reader_select on public.sms_auth_code          for select to sms_reader using (true);


