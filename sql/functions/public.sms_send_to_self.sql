-- sms_send_to_self(body, idempotency_key): signed-in users may text their own verified phone, when
-- the operator opts in (sms_allow_authenticated_send(true); off by default).
--
-- An open "send an SMS" endpoint is an SMS pumping target: attackers send to premium numbers they
-- profit from, at your cost. So authenticated users never get sms_send. What they may get is
-- this: the recipient is not an argument, it is the caller's own phone, and only once verified
-- (Supabase: auth.users.phone_confirmed_at; the JWT's phone claim is not proof, it is set before
-- confirmation). Every send is counted, per user, per recipient and in total
-- (sms_self_send_settings), and refused past the limits with SQLSTATE PT429, which PostgREST
-- answers with HTTP 429. Errors:
--   42501  the opt-in is off; no signed-in user; no phone, or not verified; user banned,
--          deleted or anonymous                                  (PostgREST: 403; anon: 401)
--   PT429  a rate limit is reached; DETAIL says which, HINT when to retry (UTC, ISO 8601) (HTTP 429)
--   22001  body needs more than sms_self_send_settings.max_segments parts      (HTTP 400)
--   22xxx  body rejected by sms_send's rules                                  (HTTP 400)
--   23505  idempotency_key reused for a different body                        (HTTP 409)
--   55000  phone_source is 'auth.users' but there is no auth.users table      (HTTP 500)
-- A repeat with the same idempotency_key returns the first message's id and is not counted again.
--
-- Sizes first, then who is asking, then the limits, and only then the body's full check: a body
-- longer than max_segments parts can hold is refused by its length, and a caller over a limit
-- gets PT429 before its body is scanned. The limits key on the canonical user id (the auth.users
-- id) and hold under every isolation level: a row per limit in sms_private.self_send_lock (per
-- user and per number, or one for all when there is a total limit) is upserted before counting,
-- so concurrent callers queue on its lock, and under REPEATABLE READ or SERIALIZABLE a caller
-- whose snapshot predates another send of the same limit gets 40001 (retry) instead of counting
-- stale rows. The message is the user's (owner authenticated:<id>), and so is its idempotency key.
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

-- authenticated gets EXECUTE while the opt-in is on (sms_grant_supabase_roles).
revoke all on function public.sms_send_to_self(text, text) from public, sms_sender, sms_reader, sms_worker;
