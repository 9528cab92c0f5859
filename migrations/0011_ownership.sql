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

-- The canonical form of a user id: a uuid in lower case (the auth.users id), anything else as
-- it is. A JWT's sub is text: 'ABC...' and 'abc...' name the same auth.users row.
create function sms_private.canonical_user_id(sub text) returns text
language sql immutable strict parallel safe
set search_path = pg_catalog, pg_temp
as $$
  select case when $1 ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then lower($1) else $1 end
$$;

with self_sent as (
  select o.id,
         'authenticated:' || sms_private.canonical_user_id(l.user_id) as new_owner,
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
   set user_id = sms_private.canonical_user_id(l.user_id)
 where l.user_id <> sms_private.canonical_user_id(l.user_id);

drop index public.sms_outbox_idempotency_key_idx;
create unique index sms_outbox_owner_idempotency_key_idx on public.sms_outbox (owner, idempotency_key)
  where idempotency_key is not null;


-- 2. Who is calling -----------------------------------------------------------------------

-- The request's JWT sub (PostgREST 9+ sets request.jwt.claims, older versions one setting per
-- claim; Supabase's auth.uid() reads the same two), canonical; NULL when there is none.
create function sms_private.jwt_sub() returns text
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  sub text;
begin
  sub := nullif(current_setting('request.jwt.claim.sub', true), '');
  if sub is null then
    sub := nullif(nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub', '');
  end if;
  return sms_private.canonical_user_id(sub);
end
$$;

-- The role the session acts as: the role setting, or the login role.
create function sms_private.caller_role() returns text
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  r text := current_setting('role');
begin
  if r = 'none' then
    return session_user::text;
  end if;
  return r;
end
$$;

-- The owner of what the caller enqueues (see the top of this file).
create function sms_private.caller_owner() returns text
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  r text := current_setting('role');
  sub text;
begin
  if r = 'none' then
    return quote_ident(session_user::text);
  end if;
  if exists (select from sms_private.roles x where r in (x.sender, x.reader, x.worker)) then
    return quote_ident(session_user::text);
  end if;
  sub := sms_private.jwt_sub();
  if sub is null then
    return quote_ident(r);
  end if;
  return quote_ident(r) || ':' || sub;
end
$$;

-- The caller may read and write sms_outbox directly anyway: a member of the role that owns it
-- (a superuser is a member of every role).
create function sms_private.caller_is_admin() returns boolean
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select pg_has_role(sms_private.caller_role(), c.relowner, 'MEMBER')
    from pg_class c
   where c.oid = 'public.sms_outbox'::regclass
$$;

-- The caller may read every message: an admin, or a member of the reader role (MEMBER, not
-- USAGE: a NOINHERIT member such as Supabase's service_role could SET ROLE to it and read
-- sms_outbox).
create function sms_private.caller_sees_all() returns boolean
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select sms_private.caller_is_admin()
      or coalesce(pg_has_role(sms_private.caller_role(), pg_catalog.to_regrole(r.reader), 'MEMBER'), false)
    from sms_private.roles r
$$;


-- 3. sms_send -----------------------------------------------------------------------------
--
-- Built to cost little more than the INSERT it wraps (npm run bench:enqueue measures it):
--   * the usual call (an international number, a body of at most 70 characters, no optional
--     argument) is one condition and one INSERT in public.sms_send: such a body is one part in
--     either encoding (at most 70 UTF-16 units, or 140 septets), so only its encoding needs
--     deciding, and the INSERT reads sms_settings and the wake-up flag itself;
--   * every other call goes to sms_private.send: the same rules argument by argument, sizes
--     first, helpers that normalise, count and explain, and when the INSERT inserts nothing, a
--     slow path that works out why and raises the matching error.
-- The checks are regular expressions, evaluated in C. The owner is an argument of
-- sms_private.send, which nobody but the owner of the schema can call.

create function sms_private.send(
  owner           text,
  recipient       text,
  body            text,
  sender          text,
  send_at         timestamptz,
  expires_at      timestamptz,
  priority        integer,
  idempotency_key text,
  metadata        jsonb
) returns uuid
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_recipient text;
  v_sender text;                  -- NULL: sms_settings.default_sender
  v_encoding text;
  v_segments integer;
  v_count record;
  v_length integer;
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

  if send.recipient ~ '^\+?(?!89)[1-9][0-9]{6,14}$' then
    v_recipient := ltrim(send.recipient, '+');
  else
    v_recipient := sms_private.check_recipient(send.recipient);
  end if;

  if v_length <= 70
     and send.body !~ '[\u0001-\u0008\u000B\u000E-\u001F\u007F-\u009F\uFFFD-\uFFFF\U00010000-\U0010FFFF]'
     and send.body ~ '[^\s\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u2800\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF0-\uFFFB]' then
    v_segments := 1;
    if send.body ~ '[^]\n\r -?@-Z_a-z\u00A1\u00A3-\u00A5\u00A7\u00BF\u00C4-\u00C7\u00C9\u00D1\u00D6\u00D8\u00DC\u00DF\u00E0\u00E4-\u00E6\u00E8\u00E9\u00EC\u00F1\u00F2\u00F6\u00F8\u00F9\u00FC\u0393\u0394\u0398\u039B\u039E\u03A0\u03A3\u03A6\u03A8\u03A9\f^{}\\[~|\u20AC]' then
      v_encoding := 'ucs2';
    else
      v_encoding := 'gsm7';
    end if;
  else
    v_count := sms_private.check_body(send.body);
    v_encoding := v_count.encoding;
    v_segments := v_count.segments;
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

  if send.idempotency_key is null then
    insert into public.sms_outbox
      (owner, recipient, sender, body, encoding, segments, priority, send_at, expires_at, next_attempt_at, metadata)
    select send.owner, v_recipient, coalesce(v_sender, s.default_sender), send.body, v_encoding, v_segments,
           v_priority, v_send_at, coalesce(v_expires_at, v_due + s.default_validity), v_due, v_metadata
      from public.sms_settings s
     where v_segments <= s.max_segments
       and coalesce(v_sender, s.default_sender) is not null
    returning id, (select w.armed_until > now() from public.sms_wakeup w) into v_id, v_armed;
  else
    -- ON CONFLICT waits for a concurrent transaction holding the same owner and key: if it
    -- commits, the row is found below; if it rolls back, this insert goes through. Another
    -- owner's key is another index entry: no conflict, no wait.
    insert into public.sms_outbox
      (owner, recipient, sender, body, encoding, segments, priority, send_at, expires_at, next_attempt_at, metadata, idempotency_key)
    select send.owner, v_recipient, coalesce(v_sender, s.default_sender), send.body, v_encoding, v_segments,
           v_priority, v_send_at, coalesce(v_expires_at, v_due + s.default_validity), v_due, v_metadata,
           send.idempotency_key
      from public.sms_settings s
     where v_segments <= s.max_segments
       and coalesce(v_sender, s.default_sender) is not null
    on conflict (owner, idempotency_key) where idempotency_key is not null do nothing
    returning id, (select w.armed_until > now() from public.sms_wakeup w) into v_id, v_armed;
  end if;

  if v_id is null then
    -- Nothing inserted: the idempotency key is taken, or a setting refused the message. The key
    -- comes first: a repeat returns the message it repeats even if the settings changed since.
    if send.idempotency_key is not null then
      select o.id, o.recipient, o.body into v_prior
        from public.sms_outbox o
       where o.owner = send.owner
         and o.idempotency_key = send.idempotency_key;
      if found then
        if v_prior.recipient = v_recipient and v_prior.body = send.body then
          return v_prior.id;                                 -- a repeat: nothing inserted, no wake-up
        end if;
        -- Neither the first message's id nor what differs: under a shared owner (service_role)
        -- the caller may not be the part of the app that sent it.
        raise exception 'idempotency_key % was already used for a different message', quote_literal(send.idempotency_key)
          using errcode = '23505', column = 'idempotency_key',
                hint = 'a repeat must have the same recipient and body; use a new key for a new message';
      end if;
    end if;
    select s.default_sender, s.max_segments into cfg from public.sms_settings s;
    if not found then
      raise exception 'sms-outbox is not set up: sms_settings has no row'
        using errcode = '55000', hint = 'insert into sms_settings default values;';
    end if;
    if v_segments > cfg.max_segments then
      perform sms_private.check_body(send.body, cfg.max_segments);   -- raises 22001 with the details
    end if;
    if v_sender is null and cfg.default_sender is null then
      raise exception 'sender is null and no default sender is configured'
        using errcode = '22004', column = 'sender',
              hint = 'pass sender, or set a default: update sms_settings set default_sender = ''MyBrand''; (or SMS_DEFAULT_SENDER for sms-outbox migrate)';
    end if;
    if send.idempotency_key is not null then
      -- ON CONFLICT saw the key, but the row was gone by the SELECT (purged): start over.
      return sms_private.send(send.owner, send.recipient, send.body, send.sender, send.send_at,
                              send.expires_at, send.priority, send.idempotency_key, send.metadata);
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

comment on function sms_private.send(text, text, text, text, timestamptz, timestamptz, integer, text, jsonb) is
  'sms-outbox internal: sms_send''s general path for a given owner (also sms_send_to_self''s)';


create or replace function public.sms_send(
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
  v_id uuid;
  v_armed boolean;
begin
  if sms_send.sender is null and sms_send.send_at is null and sms_send.expires_at is null
     and coalesce(sms_send.priority, 0) = 0 and sms_send.metadata is null and sms_send.idempotency_key is null
     and sms_send.recipient ~ '^\+?(?!89)[1-9][0-9]{6,14}$'
     and char_length(sms_send.body) <= 70
     and sms_send.body !~ '[\u0001-\u0008\u000B\u000E-\u001F\u007F-\u009F\uFFFD-\uFFFF\U00010000-\U0010FFFF]'
     and sms_send.body ~ '[^\s\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u2800\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF0-\uFFFB]' then
    -- The owner: caller_owner()'s first case inline (a session that did not SET ROLE, the usual
    -- app), since a call of a function with SET costs a few microseconds more than the INSERT.
    insert into public.sms_outbox
      (owner, recipient, sender, body, encoding, segments, priority, send_at, expires_at, next_attempt_at)
    select case when current_setting('role') = 'none' then quote_ident(session_user::text) else sms_private.caller_owner() end,
           ltrim(sms_send.recipient, '+'), s.default_sender, sms_send.body,
           case when sms_send.body ~ '[^]\n\r -?@-Z_a-z\u00A1\u00A3-\u00A5\u00A7\u00BF\u00C4-\u00C7\u00C9\u00D1\u00D6\u00D8\u00DC\u00DF\u00E0\u00E4-\u00E6\u00E8\u00E9\u00EC\u00F1\u00F2\u00F6\u00F8\u00F9\u00FC\u0393\u0394\u0398\u039B\u039E\u03A0\u03A3\u03A6\u03A8\u03A9\f^{}\\[~|\u20AC]'
                then 'ucs2' else 'gsm7' end,
           1, 0, now(), now() + s.default_validity, now()
      from public.sms_settings s
     where s.default_sender is not null
    returning id, (select w.armed_until > now() from public.sms_wakeup w) into v_id, v_armed;
    if v_id is not null then
      if v_armed then
        perform pg_notify('sms_outbox_wakeup', '');      -- see the end of sms_private.send
      end if;
      return v_id;
    end if;
    -- No default sender: the general path says so.
  end if;
  return sms_private.send(sms_private.caller_owner(), sms_send.recipient, sms_send.body, sms_send.sender,
                          sms_send.send_at, sms_send.expires_at, sms_send.priority,
                          sms_send.idempotency_key, sms_send.metadata);
end
$$;

comment on function public.sms_send(text, text, text, timestamptz, timestamptz, integer, text, jsonb) is
  'sms-outbox: enqueue one SMS inside the caller''s transaction, owned by the caller; returns its id. Rejects bad input with a class-22/23 SQLSTATE naming the argument (also in the error''s COLUMN field).';


-- 4. sms_cancel and sms_status: the caller's own messages ------------------------------------
--
-- The owner condition is part of the WHERE, so another owner's row fails it before any lock:
-- a cancel never waits for the worker's lock on another's message, as it does on its own.

create or replace function public.sms_cancel(id uuid) returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_owner text := sms_private.caller_owner();
  v_admin boolean := sms_private.caller_is_admin();
begin
  if sms_cancel.id is null then
    raise exception 'id must not be null'
      using errcode = '22004', column = 'id';
  end if;
  update public.sms_outbox o
     set status = 'cancelled', done_at = now(), updated_at = now()
   where o.id = sms_cancel.id
     and o.status = 'queued'
     and (o.owner = v_owner or v_admin);
  return found;
end
$$;

comment on function public.sms_cancel(uuid) is
  'sms-outbox: cancel one of the caller''s queued messages; true when it was queued and is now cancelled, false otherwise (another''s id is unknown)';

create or replace function public.sms_status(id uuid) returns setof public.sms_status_row
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_owner text := sms_private.caller_owner();
  v_all boolean := sms_private.caller_sees_all();
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
     where o.id = sms_status.id
       and (o.owner = v_owner or v_all);
end
$$;

comment on function public.sms_status(uuid) is
  'sms-outbox: status of one of the caller''s messages (zero rows for an unknown id or another''s; every message for the reader role)';


-- 5. sms_send_to_self ---------------------------------------------------------------------
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

create or replace function public.sms_send_to_self(body text, idempotency_key text default null)
returns uuid
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  cfg public.sms_self_send_settings;
  claims jsonb;
  v_user text;
  v_owner text;
  v_user_row jsonb;
  v_phone text;
  v_recipient text;
  v_length integer;
  v_lock_key text;
  v_count record;
  v_metadata jsonb;
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

  -- Sizes first.
  if body is null then
    raise exception 'body must not be null'
      using errcode = '22004', column = 'body';
  end if;
  v_length := char_length(body);
  if v_length > greatest(160, 153 * cfg.max_segments) then
    raise exception 'body has % characters; sms_send_to_self allows % segments, which hold at most %',
        v_length, cfg.max_segments, greatest(160, 153 * cfg.max_segments)
      using errcode = '22001', column = 'body',
            hint = 'shorten the body (one segment is 160 GSM-7 or 70 UCS-2 characters), or raise sms_self_send_settings.max_segments';
  end if;
  if idempotency_key is not null then
    if idempotency_key = '' then
      raise exception 'idempotency_key must not be empty; pass NULL for none'
        using errcode = '22023', column = 'idempotency_key';
    elsif char_length(idempotency_key) > 255 then
      raise exception 'idempotency_key has % characters; at most 255 are allowed', char_length(idempotency_key)
        using errcode = '22001', column = 'idempotency_key';
    end if;
  end if;

  -- The signed-in user.
  claims := nullif(current_setting('request.jwt.claims', true), '')::jsonb;
  v_user := sms_private.jwt_sub();
  if v_user is null then
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
    if v_user !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
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
  v_recipient := sms_private.check_recipient(v_phone);
  v_owner := sms_private.caller_owner();
  v_metadata := pg_catalog.jsonb_build_object('via', 'sms_send_to_self', 'user_id', v_user);

  -- One sender at a time per user and per number (per everyone, with a total limit), until the
  -- caller's transaction ends; rows are always locked in this order, so they cannot deadlock.
  foreach v_lock_key in array case when cfg.total_limit is not null then array['total']
                                   else array['user:' || v_user, 'recipient:' || v_recipient] end loop
    insert into sms_private.self_send_lock as l (key) values (v_lock_key)
    on conflict (key) do update set touched_at = now();
  end loop;

  if idempotency_key is not null
     and exists (select from public.sms_outbox o where o.owner = v_owner and o.idempotency_key = sms_send_to_self.idempotency_key) then
    -- A repeat returns the first id (or 23505 for a different body); it is not counted again.
    return sms_private.send(v_owner, v_recipient, body, null, null, null, 0, idempotency_key, v_metadata);
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

  v_count := sms_private.check_body(body);
  if v_count.segments > cfg.max_segments then
    raise exception 'body needs % segments; sms_send_to_self allows %', v_count.segments, cfg.max_segments
      using errcode = '22001', column = 'body',
            hint = 'shorten the body (one segment is 160 GSM-7 or 70 UCS-2 characters), or raise sms_self_send_settings.max_segments';
  end if;

  v_id := sms_private.send(v_owner, v_recipient, body, null, null, null, 0, idempotency_key, v_metadata);
  insert into public.sms_self_send_log (user_id, recipient, outbox_id) values (v_user, v_recipient, v_id);

  -- Housekeeping: a few log rows and lock rows that no window counts any more go with every send.
  v_keep := greatest(cfg.per_user_window, cfg.per_recipient_window, cfg.total_window);
  delete from public.sms_self_send_log d
   where d.id in (select l.id from public.sms_self_send_log l
                   where l.sent_at < now() - v_keep
                   order by l.sent_at
                   limit 10
                   for update skip locked);
  delete from sms_private.self_send_lock d
   where d.key in (select l.key from sms_private.self_send_lock l
                    where l.touched_at < now() - v_keep
                    limit 10
                    for update skip locked);
  return v_id;
end
$$;

comment on function public.sms_send_to_self(text, text) is
  'sms-outbox opt-in: sends body to the signed-in caller''s own verified phone, within sms_self_send_settings'' rate limits (PT429 past them). Off unless sms_allow_authenticated_send(true).';

comment on table public.sms_self_send_log is
  'sms-outbox: messages sent with sms_send_to_self, counted by its rate limits (user_id is the user''s canonical id: the JWT''s sub, a uuid in lower case)';


-- 6. 0002's internals in public go: nothing calls them any more ----------------------------

drop function public.sms_check_body(text, integer);
drop function public.sms_check_sender(text, text);
drop function public.sms_check_recipient(text);
drop function public.sms_count_segments(text);


select public.sms_strip_inherited_grants();
