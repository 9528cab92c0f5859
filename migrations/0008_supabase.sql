-- sms-outbox 0008: safe on Supabase (and any PostgREST API over this database).
--
-- Supabase serves every table and function in schema public over HTTP (PostgREST) to three
-- roles: anon (the browser key), authenticated (a signed-in user's JWT) and service_role
-- (the secret server key). This migration makes that exposure safe:
--
--   * row level security on every sms_ table, with policies for our own roles only, so the
--     REST API shows no row to anon or authenticated even if someone grants them a table;
--   * service_role may call the sender functions, where that role exists
--     (sms_grant_supabase_roles); anon and authenticated get nothing (0006 already stripped
--     Supabase's default grants);
--   * an opt-in, off by default, that lets a signed-in user text their own verified phone
--     (sms_send_to_self) under per-user, per-recipient and total rate limits enforced here,
--     switched on with select sms_allow_authenticated_send(true).
--
-- Everything here also works on plain PostgreSQL, where those roles do not exist.


-- 1. Row level security -------------------------------------------------------------------
--
-- The table owner (the role that ran the migrations) is not subject to RLS (no FORCE), and
-- neither are the SECURITY DEFINER functions, which run as the owner: sms_send & co. are
-- unaffected. Our roles get policies matching their grants (0006, 0007); a role without a
-- policy sees no rows even when it holds a privilege on the table.

alter table public.sms_outbox            enable row level security;
alter table public.sms_outbox_part       enable row level security;
alter table public.sms_receipt           enable row level security;
alter table public.sms_inbox             enable row level security;
alter table public.sms_inbox_part        enable row level security;
alter table public.sms_settings          enable row level security;
alter table public.sms_wakeup            enable row level security;
alter table public.sms_rate_limit        enable row level security;
alter table public.sms_schema_migrations enable row level security;

-- sms_reader: reads the outbox and the inbox.
create policy sms_reader_select on public.sms_outbox for select to sms_reader using (true);
create policy sms_reader_select on public.sms_inbox  for select to sms_reader using (true);

-- sms_worker: claims, updates and purges outbox rows (its column grants limit what it may
-- change; it has no INSERT), owns the other working tables, reads settings and the schema
-- version.
create policy sms_worker_select on public.sms_outbox for select to sms_worker using (true);
create policy sms_worker_update on public.sms_outbox for update to sms_worker using (true) with check (true);
create policy sms_worker_delete on public.sms_outbox for delete to sms_worker using (true);
create policy sms_worker_all on public.sms_outbox_part for all to sms_worker using (true) with check (true);
create policy sms_worker_all on public.sms_receipt     for all to sms_worker using (true) with check (true);
create policy sms_worker_all on public.sms_inbox       for all to sms_worker using (true) with check (true);
create policy sms_worker_all on public.sms_inbox_part  for all to sms_worker using (true) with check (true);
create policy sms_worker_all on public.sms_wakeup      for all to sms_worker using (true) with check (true);
create policy sms_worker_all on public.sms_rate_limit  for all to sms_worker using (true) with check (true);
create policy sms_worker_select on public.sms_settings          for select to sms_worker using (true);
create policy sms_worker_select on public.sms_schema_migrations for select to sms_worker using (true);

-- sms_stats is a view. On PostgreSQL 15+ it runs with the caller's rights (security_invoker),
-- so the table privileges and policies above decide who sees what through it too (and
-- Supabase's security advisor has no "security definer view" to report). Its readers,
-- sms_reader and sms_worker, hold SELECT on sms_outbox and a policy for it.
do $$
begin
  if pg_catalog.current_setting('server_version_num')::integer >= 150000 then
    alter view public.sms_stats set (security_invoker = true);
  end if;
end
$$;


-- 2. Opt-in: signed-in users may text their own verified phone ----------------------------
--
-- An open "send an SMS" endpoint is an SMS pumping target: attackers send to premium numbers
-- they profit from, at your cost. So authenticated users never get sms_send. What they may get,
-- when the operator opts in, is sms_send_to_self(body): the recipient is not an argument, it is
-- the caller's own phone, and only once verified (Supabase: auth.users.phone_confirmed_at; the
-- JWT's phone claim is not proof, it is set before confirmation). Every send is counted in
-- SQL, per user, per recipient and in total, and refused past the limits with SQLSTATE PT429,
-- which PostgREST (Supabase's REST API) answers with HTTP 429.

create table public.sms_self_send_settings (
  id                   boolean primary key default true check (id),
  -- Set by sms_allow_authenticated_send(), which also grants/revokes EXECUTE.
  enabled              boolean not null default false,
  -- Where the caller's phone comes from: 'auth.users' (Supabase Auth: phone and
  -- phone_confirmed_at of the row whose id is the JWT's sub) or 'jwt' (the JWT's phone claim,
  -- trusted as verified: only for token issuers that put nothing else there).
  phone_source         text not null default 'auth.users' check (phone_source in ('auth.users', 'jwt')),
  max_segments         integer not null default 1 check (max_segments between 1 and 10),
  per_user_limit       integer not null default 5 check (per_user_limit >= 0),
  per_user_window      interval not null default '1 hour'
                       check (per_user_window between interval '1 minute' and interval '31 days'),
  per_recipient_limit  integer not null default 10 check (per_recipient_limit >= 0),
  per_recipient_window interval not null default '1 day'
                       check (per_recipient_window between interval '1 minute' and interval '31 days'),
  -- All users together; NULL: no total limit.
  total_limit          integer default 1000 check (total_limit >= 0),
  total_window         interval not null default '1 hour'
                       check (total_window between interval '1 minute' and interval '31 days'),
  updated_at           timestamptz not null default now()
);

comment on table public.sms_self_send_settings is
  'sms-outbox: the opt-in that lets signed-in users text their own verified phone (sms_send_to_self). Switch it with select sms_allow_authenticated_send(true|false); change limits with UPDATE.';
comment on column public.sms_self_send_settings.enabled is 'set by sms_allow_authenticated_send(), which also grants (or revokes) authenticated EXECUTE on sms_send_to_self';
comment on column public.sms_self_send_settings.phone_source is '''auth.users'': the verified phone of the JWT''s sub in auth.users (Supabase Auth); ''jwt'': the JWT''s phone claim, trusted as verified';
comment on column public.sms_self_send_settings.max_segments is 'sms_send_to_self rejects a body needing more parts';
comment on column public.sms_self_send_settings.per_user_limit is 'sends per user within per_user_window (0 blocks)';
comment on column public.sms_self_send_settings.per_recipient_limit is 'sends to one phone number within per_recipient_window, whichever users asked (0 blocks)';
comment on column public.sms_self_send_settings.total_limit is 'sends by all users together within total_window; NULL for no total limit';

insert into public.sms_self_send_settings default values;

create function public.sms_self_send_settings_touch() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

create trigger sms_self_send_settings_touch
  before update on public.sms_self_send_settings
  for each row execute function public.sms_self_send_settings_touch();

-- One row per message sent through sms_send_to_self: what the limits count. Rows older than the
-- longest window count for nothing; each send deletes a few of them, so the table stays small.
create table public.sms_self_send_log (
  id        bigint generated always as identity primary key,
  sent_at   timestamptz not null default now(),
  user_id   text not null,
  recipient text not null,
  outbox_id uuid not null
);

comment on table public.sms_self_send_log is
  'sms-outbox: messages sent with sms_send_to_self, counted by its rate limits (user_id is the JWT''s sub)';

create index sms_self_send_log_user_idx on public.sms_self_send_log (user_id, sent_at);
create index sms_self_send_log_recipient_idx on public.sms_self_send_log (recipient, sent_at);
create index sms_self_send_log_sent_at_idx on public.sms_self_send_log (sent_at);

alter table public.sms_self_send_settings enable row level security;
alter table public.sms_self_send_log      enable row level security;
-- sms_reader may see who used the opt-in (for dashboards and abuse reviews).
grant select on public.sms_self_send_log, public.sms_self_send_settings to sms_reader;
create policy sms_reader_select on public.sms_self_send_log      for select to sms_reader using (true);
create policy sms_reader_select on public.sms_self_send_settings for select to sms_reader using (true);


-- sms_send_to_self(body, idempotency_key): sends body to the caller's own verified phone.
-- The caller is the JWT PostgREST put in request.jwt.claims (sub = user id). Errors:
--   42501  the opt-in is off; no signed-in user; no phone, or not verified; user banned,
--          deleted or anonymous                                  (PostgREST: 403; anon: 401)
--   PT429  a rate limit is reached; DETAIL says which, HINT when to retry (UTC, ISO 8601) (HTTP 429)
--   22001  body needs more than sms_self_send_settings.max_segments parts      (HTTP 400)
--   22xxx  body rejected by sms_send's rules                                  (HTTP 400)
--   23505  idempotency_key reused for a different body                        (HTTP 409)
--   55000  phone_source is 'auth.users' but there is no auth.users table      (HTTP 500)
-- A repeat with the same idempotency_key returns the first message's id and is not counted again.
create function public.sms_send_to_self(body text, idempotency_key text default null)
returns uuid
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  cfg public.sms_self_send_settings;
  claims jsonb;
  v_user text;
  v_user_row jsonb;
  v_phone text;
  v_recipient text;
  v_key text;
  v_count record;
  v_used integer;
  v_oldest timestamptz;
  v_id uuid;
  v_keep interval;
begin
  select * into cfg from public.sms_self_send_settings;
  if not found or not cfg.enabled then
    raise exception 'sending SMS as a signed-in user is disabled'
      using errcode = '42501',
            hint = 'the database owner enables it with: select sms_allow_authenticated_send(true);';
  end if;

  -- The signed-in user. PostgREST 9+ sets request.jwt.claims (JSON); older versions set one
  -- setting per claim. Supabase's auth.uid() reads the same two.
  claims := nullif(current_setting('request.jwt.claims', true), '')::jsonb;
  v_user := coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''), claims ->> 'sub');
  if v_user is null or v_user = '' then
    raise exception 'sms_send_to_self needs a signed-in user: the request''s JWT has no sub claim'
      using errcode = '42501';
  end if;
  if coalesce(claims ->> 'is_anonymous', 'false') = 'true' then
    raise exception 'sms_send_to_self is not available to anonymous sign-ins'
      using errcode = '42501';
  end if;

  -- The user's own phone, verified.
  if cfg.phone_source = 'auth.users' then
    if pg_catalog.to_regclass('auth.users') is null then
      raise exception 'sms_self_send_settings.phone_source is ''auth.users'' but this database has no auth.users table'
        using errcode = '55000',
              hint = 'on Supabase it exists; elsewhere set phone_source = ''jwt'' only if your tokens carry verified phone numbers only';
    end if;
    if v_user !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
      raise exception 'the JWT''s sub claim is not a Supabase user id'
        using errcode = '42501';
    end if;
    -- As jsonb, so columns that older Supabase Auth versions lack read as NULL.
    execute 'select pg_catalog.to_jsonb(u) from auth.users u where u.id = $1'
      into v_user_row using v_user::uuid;
    if v_user_row is null then
      raise exception 'no user % in auth.users', v_user
        using errcode = '42501';
    end if;
    if (v_user_row ->> 'deleted_at') is not null then
      raise exception 'user % is deleted', v_user
        using errcode = '42501';
    end if;
    if (v_user_row ->> 'banned_until')::timestamptz > now() then
      raise exception 'user % is banned until %', v_user, v_user_row ->> 'banned_until'
        using errcode = '42501';
    end if;
    if coalesce(v_user_row ->> 'is_anonymous', 'false') = 'true' then
      raise exception 'sms_send_to_self is not available to anonymous sign-ins'
        using errcode = '42501';
    end if;
    v_phone := nullif(v_user_row ->> 'phone', '');
    if v_phone is null then
      raise exception 'user % has no phone number', v_user
        using errcode = '42501',
              hint = 'add and verify a phone number first (Supabase Auth: updateUser({ phone }) and verifyOtp)';
    end if;
    if (v_user_row ->> 'phone_confirmed_at') is null then
      raise exception 'the phone number of user % is not verified', v_user
        using errcode = '42501',
              hint = 'verify it first (Supabase Auth: verifyOtp with type ''sms'' or ''phone_change'')';
    end if;
  else
    v_phone := nullif(claims ->> 'phone', '');
    if v_phone is null then
      raise exception 'the request''s JWT has no phone claim'
        using errcode = '42501';
    end if;
  end if;
  v_recipient := public.sms_check_recipient(v_phone);

  if body is null then
    raise exception 'body must not be null'
      using errcode = '22004', column = 'body';
  end if;
  v_count := public.sms_check_body(body);
  if v_count.segments > cfg.max_segments then
    raise exception 'body needs % segments; sms_send_to_self allows %', v_count.segments, cfg.max_segments
      using errcode = '22001', column = 'body',
            hint = 'shorten the body (one segment is 160 GSM-7 or 70 UCS-2 characters), or raise sms_self_send_settings.max_segments';
  end if;

  -- One sender at a time per user and per number (per everyone, with a total limit), until
  -- the caller's transaction ends: two concurrent requests cannot both take the last slot.
  -- Locks are always taken in this order, so they cannot deadlock.
  if cfg.total_limit is not null then
    perform pg_advisory_xact_lock(pg_catalog.hashtext('sms_send_to_self'));
  else
    perform pg_advisory_xact_lock(pg_catalog.hashtext('sms_send_to_self:user:' || v_user));
    perform pg_advisory_xact_lock(pg_catalog.hashtext('sms_send_to_self:recipient:' || v_recipient));
  end if;

  if idempotency_key is not null then
    -- Keys are per user: another user's key can neither collide with nor reveal this one.
    v_key := 'sms_send_to_self:' || v_user || ':' || idempotency_key;
    if exists (select from public.sms_outbox o where o.idempotency_key = v_key) then
      -- A repeat returns the first id (or 23505 for a different body); it is not counted again.
      return public.sms_send(v_recipient, body, idempotency_key => v_key);
    end if;
  end if;

  select count(*), min(l.sent_at) into v_used, v_oldest
    from public.sms_self_send_log l
   where l.user_id = v_user and l.sent_at > now() - cfg.per_user_window;
  if v_used >= cfg.per_user_limit then
    raise sqlstate 'PT429'
      using message = format('too many SMS: this user may send %s per %s', cfg.per_user_limit, cfg.per_user_window),
            detail = format('limit: per user; used: %s of %s in the last %s', v_used, cfg.per_user_limit, cfg.per_user_window),
            hint = format('retry after %s', pg_catalog.to_char(
                     (coalesce(v_oldest, now()) + cfg.per_user_window + interval '1 second') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'));
  end if;

  select count(*), min(l.sent_at) into v_used, v_oldest
    from public.sms_self_send_log l
   where l.recipient = v_recipient and l.sent_at > now() - cfg.per_recipient_window;
  if v_used >= cfg.per_recipient_limit then
    raise sqlstate 'PT429'
      using message = format('too many SMS: this phone number may receive %s per %s', cfg.per_recipient_limit, cfg.per_recipient_window),
            detail = format('limit: per recipient; used: %s of %s in the last %s', v_used, cfg.per_recipient_limit, cfg.per_recipient_window),
            hint = format('retry after %s', pg_catalog.to_char(
                     (coalesce(v_oldest, now()) + cfg.per_recipient_window + interval '1 second') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'));
  end if;

  if cfg.total_limit is not null then
    select count(*), min(l.sent_at) into v_used, v_oldest
      from public.sms_self_send_log l
     where l.sent_at > now() - cfg.total_window;
    if v_used >= cfg.total_limit then
      raise sqlstate 'PT429'
        using message = format('too many SMS: all users together may send %s per %s', cfg.total_limit, cfg.total_window),
              detail = format('limit: total; used: %s of %s in the last %s', v_used, cfg.total_limit, cfg.total_window),
              hint = format('retry after %s', pg_catalog.to_char(
                     (coalesce(v_oldest, now()) + cfg.total_window + interval '1 second') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'));
    end if;
  end if;

  v_id := public.sms_send(v_recipient, body, idempotency_key => v_key,
                          metadata => pg_catalog.jsonb_build_object('via', 'sms_send_to_self', 'user_id', v_user));
  insert into public.sms_self_send_log (user_id, recipient, outbox_id) values (v_user, v_recipient, v_id);

  -- Housekeeping: a few rows that no window counts any more go with every send.
  v_keep := greatest(cfg.per_user_window, cfg.per_recipient_window, cfg.total_window);
  delete from public.sms_self_send_log d
   where d.id in (select l.id from public.sms_self_send_log l
                   where l.sent_at < now() - v_keep
                   order by l.sent_at
                   limit 10
                   for update skip locked);
  return v_id;
end
$$;

comment on function public.sms_send_to_self(text, text) is
  'sms-outbox opt-in: sends body to the signed-in caller''s own verified phone, within sms_self_send_settings'' rate limits (PT429 past them). Off unless sms_allow_authenticated_send(true).';


-- 3. Supabase's API roles -----------------------------------------------------------------
--
-- Supabase creates anon, authenticated and service_role NOINHERIT: a role they are members of
-- lends them nothing unless they SET ROLE to it, and PostgREST only ever sets the JWT's role.
-- So membership in sms_sender would not let service_role call sms_send; it gets EXECUTE on the
-- sender functions directly instead (the same ones sms_sender has), in this database. anon gets
-- nothing; authenticated gets EXECUTE on sms_send_to_self only while the opt-in is on.
--
-- sms_grant_supabase_roles() applies exactly that, and is idempotent. It is called at the end of
-- sms_strip_inherited_grants() (0006; so every later migration re-applies it after stripping
-- Supabase's default grants), by sms_allow_authenticated_send(), and by `sms-outbox migrate`
-- on every run, so roles created after the first migration are picked up by the next one.
-- Without those roles (plain PostgreSQL) it does nothing.
create function public.sms_grant_supabase_roles() returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  f text;
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'service_role') then
    for f in
      select p.oid::regprocedure::text
        from pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
       where p.pronamespace = 'public'::regnamespace
         and p.proname like 'sms\_%'
         and a.grantee = 'sms_sender'::regrole
         and a.privilege_type = 'EXECUTE'
    loop
      execute pg_catalog.format('grant execute on function %s to service_role', f);
    end loop;
  end if;
  if exists (select from pg_catalog.pg_roles where rolname = 'authenticated') then
    if coalesce((select s.enabled from public.sms_self_send_settings s), false) then
      grant execute on function public.sms_send_to_self(text, text) to authenticated;
    else
      revoke execute on function public.sms_send_to_self(text, text) from authenticated;
    end if;
  end if;
end
$$;

comment on function public.sms_grant_supabase_roles() is
  'sms-outbox: gives Supabase''s service_role EXECUTE on the sender functions and authenticated EXECUTE on sms_send_to_self while the opt-in is on, where those roles exist; sms-outbox migrate calls it on every run';


-- sms_allow_authenticated_send(enabled): the switch. true sets sms_self_send_settings.enabled and
-- grants authenticated EXECUTE on sms_send_to_self; false clears both. Only the owner of the sms_
-- objects (the role that migrated: `postgres` on Supabase, as in the SQL editor) may call it.
-- Returns the new state.
create function public.sms_allow_authenticated_send(enabled boolean)
returns boolean
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if enabled is null then
    raise exception 'enabled must be true or false'
      using errcode = '22004', column = 'enabled';
  end if;
  if enabled then
    if not exists (select from pg_catalog.pg_roles where rolname = 'authenticated') then
      raise exception 'there is no role "authenticated": sms_allow_authenticated_send is for Supabase (or PostgREST with Supabase''s role names)'
        using errcode = '42704';
    end if;
    if (select s.phone_source from public.sms_self_send_settings s) = 'auth.users'
       and pg_catalog.to_regclass('auth.users') is null then
      raise exception 'sms_self_send_settings.phone_source is ''auth.users'' but this database has no auth.users table'
        using errcode = '55000',
              hint = 'set phone_source = ''jwt'' first, and only if your tokens carry verified phone numbers only';
    end if;
  end if;
  update public.sms_self_send_settings s set enabled = sms_allow_authenticated_send.enabled;
  perform public.sms_grant_supabase_roles();
  return enabled;
end
$$;

comment on function public.sms_allow_authenticated_send(boolean) is
  'sms-outbox: switches the opt-in that lets Supabase''s authenticated role call sms_send_to_self (own verified phone, rate-limited); off by default';


-- Supabase grants everything new in public to anon, authenticated and service_role by default
-- privileges: take that back for what this migration added, then grant what is meant.
select public.sms_strip_inherited_grants();
