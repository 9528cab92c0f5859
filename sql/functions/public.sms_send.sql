-- sms_send: validate, insert one row owned by the caller, and wake an idle worker. Argument names
-- are API: Supabase RPC passes them as JSON keys. SECURITY DEFINER (it acts with its owner's
-- rights, so callers need EXECUTE and nothing else) with search_path pinned to pg_catalog, pg_temp
-- and every object schema-qualified, so no caller-controlled search_path can substitute a table,
-- function or operator; the same holds for every function of the interface.
--
-- Built to cost little more than the INSERT it wraps (npm run bench:enqueue measures it). In a
-- PL/pgSQL function every statement has a price (each expression is prepared once per
-- transaction, and an enqueue usually is a transaction), so:
--   * the usual call (an international number, a body of at most 70 characters without a
--     look-alike for smart encoding, no optional argument) is one condition and one INSERT here:
--     such a body is one part in either encoding (at most 70 UTF-16 units, or 140 septets), so
--     only its encoding needs deciding, and the INSERT reads sms_settings and the wake-up flag
--     itself. A transactional message is that INSERT alone; a marketing one looks its recipient
--     up in sms_opt_out in the same INSERT (an index probe) and is stored rejected when it is
--     there;
--   * a call from a reply handler (sms.reply_context set) goes to sms_private.send, which makes
--     it a reply to the incoming SMS under the auto-reply loop guard; a handler that clears the
--     setting comes here as the worker role, which caller_owner() refuses;
--   * every other call goes to sms_private.send: the same rules argument by argument, sizes
--     first, helpers that normalise, count and explain (sms_private.new_message, the one
--     implementation of these rules, which an app's INSERT INTO sms_outbox goes through too).
-- The INSERTs here name every column sms-outbox sets (the table has no defaults for them): an
-- INSERT naming owner and id is not an app's, and the trigger sms_outbox_insert leaves it alone.
-- The checks are regular expressions, evaluated in C.
create or replace function public.sms_send(
  recipient       text,
  body            text,
  sender          text        default null,
  send_at         timestamptz default null,
  expires_at      timestamptz default null,
  priority        integer     default 0,
  idempotency_key text        default null,
  metadata        jsonb       default null,
  category        text        default 'transactional'
) returns uuid
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_id uuid;
  v_armed boolean;
  v_status text;
begin
  if sms_send.sender is null and sms_send.send_at is null and sms_send.expires_at is null
     and coalesce(sms_send.priority, 0) = 0 and sms_send.metadata is null and sms_send.idempotency_key is null
     and (sms_send.category is null or sms_send.category in ('transactional', 'marketing'))
     and coalesce(current_setting('sms.reply_context', true), '') = ''
     and sms_send.recipient ~ '^\+?(?!89)[1-9][0-9]{6,14}$'
     and char_length(sms_send.body) <= 70
     and sms_send.body !~ '[\u0001-\u0008\u000B\u000E-\u001F\u007F-\u009F\uFFFD-\uFFFF\U00010000-\U0010FFFF\t\u0060\u00A0\u00AB\u00AD\u00B4\u00BB\u02BC\u02C6\u02DC\u2000-\u200D\u2010-\u2015\u2018-\u201F\u2024-\u2026\u2028\u2029\u202F\u2032\u2033\u2035\u2036\u2039\u203A\u2043\u2044\u205F\u2060\u2212\u2215\u3000\uFE58\uFE63\uFEFF\uFF0D]'
     and sms_send.body ~ '[^\s\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u2800\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF0-\uFFFB]' then
    -- The owner: caller_owner()'s first case inline (a session that did not SET ROLE, the usual
    -- app), since a call of a function with SET costs a few microseconds more than the INSERT.
    if sms_send.category = 'marketing' then
      insert into public.sms_outbox
        (id, created_at, updated_at, attempts, replaced_chars, retries, attempts_at_retry,
         owner, recipient, sender, body, encoding, segments, priority, send_at, expires_at, next_attempt_at,
         category, status, done_at, error_code, error_message)
      select public.sms_uuidv7(), now(), now(), 0, 0, 0, 0,
             case when current_setting('role') = 'none' then quote_ident(session_user::text) else sms_private.caller_owner() end,
             ltrim(sms_send.recipient, '+'), s.default_sender, sms_send.body,
             case when sms_send.body ~ '[^]\n\r -?@-Z_a-z\u00A1\u00A3-\u00A5\u00A7\u00BF\u00C4-\u00C7\u00C9\u00D1\u00D6\u00D8\u00DC\u00DF\u00E0\u00E4-\u00E6\u00E8\u00E9\u00EC\u00F1\u00F2\u00F6\u00F8\u00F9\u00FC\u0393\u0394\u0398\u039B\u039E\u03A0\u03A3\u03A6\u03A8\u03A9\f^{}\\[~|\u20AC]'
                  then 'ucs2' else 'gsm7' end,
             1, 0, now(), now() + s.default_validity, now(),
             'marketing',
             case when x.recipient is null then 'queued' else 'rejected' end,
             case when x.recipient is not null then now() end,
             case when x.recipient is not null then 'OPTED_OUT' end,
             case when x.recipient is not null then sms_private.error_message('opted_out') end
        from public.sms_settings s
        left join public.sms_opt_out x on x.recipient = ltrim(sms_send.recipient, '+')
       where s.default_sender is not null
      returning id, status, (select w.armed_until > now() from public.sms_wakeup w) into v_id, v_status, v_armed;
      if v_status = 'rejected' then
        perform sms_private.announce_status(v_id, 'rejected');
        return v_id;
      end if;
    else
      insert into public.sms_outbox
        (id, created_at, updated_at, status, attempts, replaced_chars, retries, attempts_at_retry,
         owner, recipient, sender, body, encoding, segments, priority, send_at, expires_at, next_attempt_at)
      select public.sms_uuidv7(), now(), now(), 'queued', 0, 0, 0, 0,
             case when current_setting('role') = 'none' then quote_ident(session_user::text) else sms_private.caller_owner() end,
             ltrim(sms_send.recipient, '+'), s.default_sender, sms_send.body,
             case when sms_send.body ~ '[^]\n\r -?@-Z_a-z\u00A1\u00A3-\u00A5\u00A7\u00BF\u00C4-\u00C7\u00C9\u00D1\u00D6\u00D8\u00DC\u00DF\u00E0\u00E4-\u00E6\u00E8\u00E9\u00EC\u00F1\u00F2\u00F6\u00F8\u00F9\u00FC\u0393\u0394\u0398\u039B\u039E\u03A0\u03A3\u03A6\u03A8\u03A9\f^{}\\[~|\u20AC]'
                  then 'ucs2' else 'gsm7' end,
             1, 0, now(), now() + s.default_validity, now()
        from public.sms_settings s
       where s.default_sender is not null
      returning id, (select w.armed_until > now() from public.sms_wakeup w) into v_id, v_armed;
    end if;
    if v_id is not null then
      if v_armed then
        perform sms_private.wake_workers();      -- see the end of sms_private.send
      end if;
      return v_id;
    end if;
    -- No default sender: the general path says so.
  end if;
  return sms_private.send(sms_private.caller_owner(), sms_send.recipient, sms_send.body, sms_send.sender,
                          sms_send.send_at, sms_send.expires_at, sms_send.priority,
                          sms_send.idempotency_key, sms_send.metadata, sms_send.category);
end
$$;

comment on function public.sms_send(text, text, text, timestamptz, timestamptz, integer, text, jsonb, text) is
  'sms-outbox: enqueue one SMS inside the caller''s transaction, owned by the caller; returns its id. category marketing: never sent to a recipient in sms_opt_out (stored as rejected, OPTED_OUT). Rejects bad input with a class-22/23 SQLSTATE naming the argument (also in the error''s COLUMN field).';

-- The sender role calls it (and Supabase's service_role, through sms_grant_supabase_roles).
revoke all on function public.sms_send(text, text, text, timestamptz, timestamptz, integer, text, jsonb, text) from public, sms_sender, sms_reader, sms_worker;
grant execute on function public.sms_send(text, text, text, timestamptz, timestamptz, integer, text, jsonb, text) to sms_sender;
