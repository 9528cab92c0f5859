-- sms_auth_send_sms_hook(event): Supabase phone sign-in through sms-outbox (Supabase Auth's Send
-- SMS Hook). Supabase Auth can hand every SMS it would send (sign-in and sign-up codes, phone
-- changes, reauthentication, MFA challenges) to this function instead of a built-in provider. Auth
-- calls it logged in as supabase_auth_admin, inside the transaction of the request that made the
-- code, with statement_timeout at 2 s, as
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
--   * the text comes from a template in sms_auth_hook_settings (sms_private.auth_hook_text);
--   * enqueued through sms_send's own rules (sms_private.send) at high priority, owned by the
--     caller (supabase_auth_admin), expiring when the code does (code_validity), with an
--     idempotency key made from the user and the code, keyed with sms_private.auth_hook_secret
--     so the readable key does not reveal the code: the same event twice sends one SMS;
--   * SMS pumping protection, since sign-in is open to anyone: at most per_phone_limit codes per
--     number per per_phone_window, at most per_minute_limit codes a minute in all, and only to
--     allowed_country_prefixes when that is set. Exact under concurrent calls;
--   * and against the attacks those let through (many numbers of an allowed country, slowly):
--     the pumping defence judges each number range (its country, and its first
--     sms_pumping_settings.prefix_length digits) by the share of its codes that get confirmed,
--     and by its volume against its own recent rate; a range it blocked or throttled is refused
--     (sms_private.pumping_gate), and every code sent is counted and may lead to a decision
--     (sms_private.pumping_count), recorded in sms_pumping_decision;
--   * the text sent is kept in sms_outbox_secret, which only the worker role reads, and blanked in
--     sms_outbox.body (as redaction leaves a body); it is deleted when the message leaves the
--     queue (sms_private.outbox_secret_release), so nobody reads a code after that;
--   * each code is a row of sms_auth_code (never the code), whose status follows the message's;
--   * never raises: every problem is an error object, counted by reason
--     (sms_auth_hook_refusals()), and neither the answer nor the log ever holds the code.
--
-- Order: the event, the number, the country, then (holding the number's lock) a repeat of the
-- same event, the number's range, the number's limit, the minute's limit, and only then the
-- message. Times are sms_private.pumping_now() (now()). Answers:
--
--   {}                                        queued, or already queued by the same event
--   400  bad_event     the event is not an object, or has no code in sms.otp (4-10 digits)
--   400  bad_phone     no phone number, or not a plausible international number
--   403  country       the number's country is not in allowed_country_prefixes (a policy
--                      refusal of a valid number, not a malformed request)
--   429  range_blocked the number's range (prefix or country) is blocked by the pumping
--                      defence, or pinned closed; the message is sms_pumping_settings.message,
--                      and the error object carries "reason": "range_blocked"
--   429  range_throttled  the range is throttled and had its throttle_per_minute codes this
--                      minute (same message, "reason": "range_throttled")
--   429  phone_limit   per_phone_limit codes for this number within per_phone_window
--   429  global_limit  per_minute_limit codes this minute
--   429  busy          a concurrent call held the number's (or the minute's) row past
--                      lock_timeout, or raced it under REPEATABLE READ / SERIALIZABLE, or the
--                      caller's statement_timeout ran out
--   500  error         anything else (e.g. no sender configured); SQLSTATE in the message, the
--                      error itself in the server log with the code masked
--
-- lock_timeout stays under the 2 s statement_timeout Auth sets, so a wait that long is answered
-- (429) rather than cancelled.
create or replace function public.sms_auth_send_sms_hook(event jsonb)
returns jsonb
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
set lock_timeout = '1s'
as $$
declare
  cfg public.sms_auth_hook_settings;
  pcfg public.sms_pumping_settings;
  v_now timestamptz := sms_private.pumping_now();
  v_answer jsonb;
  v_range text;
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
    select * into pcfg from public.sms_pumping_settings;
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

    insert into sms_private.auth_hook_lock as l (key, touched_at) values ('phone:' || v_recipient, v_now)
    on conflict (key) do update set touched_at = v_now;

    if exists (select from public.sms_outbox o where o.owner = v_owner and o.idempotency_key = v_key) then
      return '{}'::jsonb;
    end if;

    v_answer := sms_private.pumping_gate(v_recipient, v_now, pcfg, cfg.code_validity);
    if v_answer is not null then
      return v_answer;
    end if;

    select count(*), min(c.created_at) into v_used, v_oldest
      from public.sms_auth_code c
     where c.phone = v_recipient and c.created_at > v_now - cfg.per_phone_window;
    if v_used >= cfg.per_phone_limit then
      return sms_private.auth_hook_refusal('phone_limit', 429, pg_catalog.format(
        'too many codes for this phone number; try again after %s',
        pg_catalog.to_char((coalesce(v_oldest, v_now) + cfg.per_phone_window + interval '1 second') at time zone 'UTC',
                           'YYYY-MM-DD"T"HH24:MI:SS"Z"')));
    end if;

    if cfg.per_minute_limit is not null then
      v_used := null;
      if cfg.per_minute_limit > 0 then
        insert into sms_private.auth_hook_minute as m (minute, sent) values (pg_catalog.date_trunc('minute', v_now), 1)
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
                           'via', 'supabase_auth_hook', 'user_id', v_user, 'sms_type', v_type)),
      -- The code never enters sms_outbox.body: only the worker's claim reads it, from
      -- sms_outbox_secret, and it is deleted there too once the message leaves the queue
      -- (sms_private.outbox_secret_release). sms_outbox holds it blanked as redaction leaves a body.
      secret          => true);
    -- The prefix range the pumping defence counts the code in; none when it is off, or for a code
    -- Auth does not confirm through auth.users.phone_confirmed_at (an MFA challenge, a
    -- reauthentication), which would look like a code nobody confirmed.
    v_range := case when pcfg.enabled and not coalesce(v_type in ('mfa', 'reauthentication'), false)
                    then pg_catalog.left(v_recipient, pcfg.prefix_length) end;
    insert into public.sms_auth_code (outbox_id, created_at, user_id, phone, sms_type, expires_at, pumping_range)
      values (v_id, v_now, v_user, v_recipient, v_type, v_now + cfg.code_validity, v_range)
      on conflict (outbox_id) do nothing;

    -- Housekeeping: a few rows no limit counts any more go with every code.
    v_keep := greatest(cfg.per_phone_window, interval '1 day');
    delete from public.sms_auth_code d
     where d.outbox_id in (select c.outbox_id from public.sms_auth_code c
                            where c.created_at < v_now - v_keep
                            order by c.created_at limit 10 for update skip locked);
    delete from sms_private.auth_hook_lock d
     where d.key in (select l.key from sms_private.auth_hook_lock l
                      where l.touched_at < v_now - cfg.per_phone_window
                      limit 10 for update skip locked);
    delete from sms_private.auth_hook_minute d
     where d.minute in (select m.minute from sms_private.auth_hook_minute m
                         where m.minute < pg_catalog.date_trunc('minute', v_now) - interval '1 minute'
                         limit 10 for update skip locked);
    -- Counted for the pumping defence, which may take a decision on the range now: it lasts, as
    -- Auth commits a code that goes out. Last: what it writes is locked until Auth commits.
    perform sms_private.pumping_count(v_recipient, v_range, v_now, pcfg, cfg.code_validity);
    return '{}'::jsonb;
  exception
    -- A statement timeout (Auth sets 2 s) is a wait too long like a lock's: answered, not raised.
    when serialization_failure or deadlock_detected or lock_not_available or query_canceled then
      return sms_private.auth_hook_refusal('busy', 429, 'too many sign-in codes at once; try again in a few seconds');
    when others then
      get stacked diagnostics v_state = returned_sqlstate, v_message = message_text;
      -- WARNING, not LOG: the default log_min_messages keeps it, and it is under the default
      -- log_min_error_statement (error), above which Postgres logs the caller's statement too,
      -- event and code included when the caller wrote the event into the SQL text.
      raise warning 'sms_auth_send_sms_hook: the code was not queued: % %', v_state,
        case when v_otp is null or v_otp = '' then v_message else pg_catalog.replace(v_message, v_otp, '******') end;
      return sms_private.auth_hook_refusal('error', 500, pg_catalog.format(
        'the sign-in code could not be queued (SQLSTATE %s); the database log has the details', v_state));
  end;
end
$$;

comment on function public.sms_auth_send_sms_hook(jsonb) is
  'sms-outbox: Supabase Auth''s Send SMS Hook (pg-functions://postgres/public/sms_auth_send_sms_hook): queues the code from the event and answers {} or {"error": {"http_code", "message"}}; never raises. EXECUTE for supabase_auth_admin only.';

-- supabase_auth_admin gets EXECUTE where it exists (sms_grant_supabase_roles); nobody else.
revoke all on function public.sms_auth_send_sms_hook(jsonb) from public, sms_sender, sms_reader, sms_worker;
