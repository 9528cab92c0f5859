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
-- Everything here also works on plain PostgreSQL, where those roles do not exist. The functions
-- named here live in sql/functions/, one file each (the view sms_stats, which runs with the
-- caller's rights on PostgreSQL 15+, in sql/views/).


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
