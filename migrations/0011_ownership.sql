-- sms-outbox 0011: each message belongs to the role that enqueued it.
--
-- The owner is who the calling session acts as, recorded by sms_send:
--   * the role the session switched to with SET ROLE / SET LOCAL ROLE (PostgREST switches to the
--     request's role: service_role, authenticated, ...), or its login role when it did not
--     switch. Inside a SECURITY DEFINER function current_user is the function's owner, but the
--     role setting and session_user still name the caller's session, and no definer function
--     can change the role setting. A switch to one of the three sms_ roles (which every app
--     holding them can make) counts as no switch: the login owns the message.
--   * with the request's JWT `sub` when that role carries one (Supabase's authenticated: the
--     user), as "<role>:<sub>"; a uuid sub in its canonical lower-case form, the auth.users id.
--     Only a session that may become the role (PostgREST's authenticator) can set the role
--     setting, so the claims are trusted only together with it.
--   * stored as text: the role quoted as an SQL identifier (quote_ident), e.g. my_app,
--     service_role, "MyApp", authenticated:6f1c0a42-...; the ':' after an unquoted name
--     separates the user, so no role name can pose as a user.
--
-- sms_status and sms_cancel act only on the caller's own messages; another's id behaves
-- exactly as an unknown one (same result, no wait on its row lock, same error). The reader role
-- sees every message through sms_status as it does in sms_outbox, and the role that owns the
-- sms_ objects (and superusers) see and cancel every message, as they may read and write the
-- table directly. Idempotency keys are unique per owner: another owner's key neither collides
-- nor answers, and the 23505 for a key reused with a different message no longer says which
-- message (its id) or what differs.
--
-- Existing rows: a message sent through sms_send_to_self whose user is still in
-- sms_self_send_log becomes that user's (authenticated:<id>, its key without the
-- 'sms_send_to_self:<user>:' prefix 0008 used); every other message becomes the role that runs
-- this migration's (the owner of the sms_ objects: its sender was not recorded). An app that
-- needs its old messages back: update sms_outbox set owner = 'my_app' where ... (as the owner).

-- 1. The column, filled for existing rows ---------------------------------------------------
--
-- A non-volatile default is evaluated once and stored in the catalog: no table rewrite. The
-- default stays for rows written without sms_send (only the owner of the table can do that).
alter table public.sms_outbox
  add column owner text not null default pg_catalog.quote_ident(current_user::text);

comment on column public.sms_outbox.owner is
  'who enqueued it: the role the session acted as (quoted like an SQL identifier), with :<JWT sub> for a user of a request role (authenticated:<user id>); sms_status, sms_cancel and idempotency keys are per owner';

-- A user id in its canonical form: a uuid in lower case (the auth.users id), anything else as it
-- is (a JWT's sub is text: 'ABC...' and 'abc...' name the same auth.users row). Written out here
-- as sms_private.canonical_user_id computes it, since the functions are installed after the
-- numbered migrations.
with self_sent as (
  select o.id,
         'authenticated:' || case when l.user_id ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                                  then lower(l.user_id) else l.user_id end as new_owner,
         case when left(o.idempotency_key, char_length('sms_send_to_self:' || l.user_id || ':')) = 'sms_send_to_self:' || l.user_id || ':'
              then substr(o.idempotency_key, char_length('sms_send_to_self:' || l.user_id || ':') + 1)
              else o.idempotency_key end as new_key
    from public.sms_outbox o
    join public.sms_self_send_log l on l.outbox_id = o.id
), ranked as (
  -- Two users differing only in the case of a uuid became one: keep the first key, leave the
  -- other prefixed, so the index below stays unique.
  select s.*, row_number() over (partition by s.new_owner, s.new_key order by s.id) as n
    from self_sent s
)
update public.sms_outbox o
   set owner = r.new_owner,
       idempotency_key = case when r.n = 1 or r.new_key is null then r.new_key else o.idempotency_key end
  from ranked r
 where r.id = o.id;

update public.sms_self_send_log l
   set user_id = lower(l.user_id)
 where l.user_id ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
   and l.user_id <> lower(l.user_id);

drop index public.sms_outbox_idempotency_key_idx;
create unique index sms_outbox_owner_idempotency_key_idx on public.sms_outbox (owner, idempotency_key)
  where idempotency_key is not null;

-- 2. Who is calling (sms_private.caller_owner and its helpers), sms_send, sms_cancel and
-- sms_status: in sql/functions/.


-- 3. sms_send_to_self ---------------------------------------------------------------------
--
-- Changes from 0008:
--   * Sizes first, then who is asking, then the limits, and only then the body's full check:
--     a body longer than sms_self_send_settings.max_segments parts can hold is refused by its
--     length, and a caller over a limit gets PT429 before its body is scanned.
--   * The limits key on the canonical user id (the auth.users id), not the JWT's sub as sent.
--   * The limits hold under every isolation level. A row per limit (per user and per number, or
--     one for all when there is a total limit) is upserted before counting: concurrent
--     callers queue on its lock, and under REPEATABLE READ or SERIALIZABLE, where the counts
--     read the transaction's snapshot, a caller whose snapshot predates another send of the
--     same limit gets 40001 (retry) instead of counting stale rows. An advisory lock did not
--     do that: the snapshot was taken before it.
--   * The message is the user's (owner authenticated:<id>), and so is its idempotency key,
--     stored as given.

-- The rows sms_send_to_self locks; one per limit key, touched by every send counted by it.
create table sms_private.self_send_lock (
  key        text primary key,
  touched_at timestamptz not null default now()
);
alter table sms_private.self_send_lock enable row level security;

comment on table sms_private.self_send_lock is
  'sms-outbox: one row per rate-limit key of sms_send_to_self (''total'', ''user:<id>'', ''recipient:<number>''), locked by each send it counts';

comment on table public.sms_self_send_log is
  'sms-outbox: messages sent with sms_send_to_self, counted by its rate limits (user_id is the user''s canonical id: the JWT''s sub, a uuid in lower case)';


-- 4. 0002's internals in public go (released versions of 0002 created them) ----------------

drop function if exists public.sms_check_body(text, integer);
drop function if exists public.sms_check_sender(text, text);
drop function if exists public.sms_check_recipient(text);
drop function if exists public.sms_count_segments(text);

