-- sms_private.send: sms_send's general path for a given owner, and the way sms_send_to_self and
-- the Supabase Auth hook enqueue. Every rule of sms_send, argument by argument:
--   * sizes first: nothing below scans a text longer than any message can be;
--   * recipient, body (its rules on the text the app passed; what is counted and stored is the
--     text that is sent: smart encoding, while sms_settings.smart_encoding is on, replaces
--     look-alikes when that makes it GSM-7), sender, send_at, expires_at, priority, metadata,
--     category;
--   * a marketing message to a recipient in sms_opt_out is stored `rejected` (error_code
--     OPTED_OUT), not refused: a campaign enqueued in one transaction is not aborted by one
--     recipient;
--   * inside a reply handler (the worker role with a verified sms.reply_context) the message is
--     a reply to that incoming SMS (reply_to_inbox), and the auto-reply loop guard applies: once
--     sms_settings.auto_reply_limit replies from the owner's handlers went to the recipient
--     within auto_reply_window, another is stored `rejected` (REPLY_LOOP), never sent, so two
--     auto-responders answering each other stop;
--   * idempotency keys are per owner: a repeat with the same recipient and body returns the first
--     id, the same key with another message is 23505;
--   * when the INSERT inserts nothing, the slow path finds out why and raises the matching error.
-- The owner is an argument, so nobody but the owner of the schema may call it.
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
  v_refusal text;                 -- error_code of a message stored rejected: OPTED_OUT, REPLY_LOOP
  v_refusal_message text;
  v_reply_to uuid;                -- the incoming SMS a reply handler answers
  v_ctx record;
  v_guard record;
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
  -- validity to the last time PostgreSQL can store overflows (22008 naming no argument). So is a
  -- send_at whose default expiry (plus sms_settings.default_validity) would reach that year.
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
    if v_opted_out then
      v_refusal := 'OPTED_OUT';
      v_refusal_message := sms_private.error_message('opted_out');
    end if;
  end if;

  -- A reply from a reply handler, under the loop guard: the replies of this owner's handlers to
  -- this number lately, counted through the index of a number's messages.
  if coalesce(current_setting('sms.reply_context', true), '') <> ''
     and current_setting('role') = (select x.worker from sms_private.roles x) then
    v_ctx := sms_private.reply_context();
    if v_ctx.owner = send.owner then
      v_reply_to := v_ctx.inbox_id;
      select s.auto_reply_limit, s.auto_reply_window into v_guard from public.sms_settings s;
      if v_refusal is null
         and (select count(*) from (select from public.sms_outbox o
                                     where o.recipient = v_recipient
                                       and o.id >= sms_private.uuidv7_floor(now() - v_guard.auto_reply_window)
                                       and o.created_at >= now() - v_guard.auto_reply_window
                                       and o.reply_to_inbox is not null
                                       and o.owner = send.owner
                                     limit v_guard.auto_reply_limit) x) >= v_guard.auto_reply_limit then
        v_refusal := 'REPLY_LOOP';
        v_refusal_message := format('not sent: %s replies from reply handlers went to this number within %s (sms_settings.auto_reply_limit): a reply loop?',
                                    v_guard.auto_reply_limit, v_guard.auto_reply_window);
      end if;
    end if;
  end if;

  if send.idempotency_key is null then
    insert into public.sms_outbox
      (owner, recipient, sender, body, encoding, segments, priority, send_at, expires_at, next_attempt_at, metadata,
       category, replaced_chars, reply_to_inbox, status, done_at, error_code, error_message)
    select send.owner, v_recipient, coalesce(v_sender, s.default_sender), v_body, v_encoding, v_segments,
           v_priority, v_send_at, coalesce(v_expires_at, v_due + s.default_validity), v_due, v_metadata,
           v_category, v_replaced, v_reply_to,
           case when v_refusal is not null then 'rejected' else 'queued' end,
           case when v_refusal is not null then now() end,
           v_refusal,
           v_refusal_message
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
       idempotency_key, category, replaced_chars, reply_to_inbox, status, done_at, error_code, error_message)
    select send.owner, v_recipient, coalesce(v_sender, s.default_sender), v_body, v_encoding, v_segments,
           v_priority, v_send_at, coalesce(v_expires_at, v_due + s.default_validity), v_due, v_metadata,
           send.idempotency_key, v_category, v_replaced, v_reply_to,
           case when v_refusal is not null then 'rejected' else 'queued' end,
           case when v_refusal is not null then now() end,
           v_refusal,
           v_refusal_message
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
      -- The expiry computed here (send_at plus the default validity) must be a time clients can
      -- read too, not only the times passed: the INSERTs above refuse it.
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

  if v_refusal is not null then
    -- Final at once: announced like every final status; nothing to wake a worker for.
    perform sms_private.announce_status(v_id, 'rejected');
    return v_id;
  end if;
  -- Wake an idle worker. NOTIFY is transactional: delivered at commit, discarded on rollback,
  -- and identical notifications in one transaction are folded into one. While the worker is
  -- draining it disarms the switch and enqueues skip the NOTIFY (which serialises commits).
  -- The switch is read in the INSERT's snapshot, so a worker that arms it after that and
  -- re-checks the queue before this transaction commits does not see this row: the worker
  -- re-checks once more a second after arming, and the sms_drain cron job each minute.
  if v_armed then
    perform sms_private.wake_workers();
  end if;
  return v_id;
end
$$;

comment on function sms_private.send(text, text, text, text, timestamptz, timestamptz, integer, text, jsonb, text) is
  'sms-outbox internal: sms_send''s general path for a given owner (also sms_send_to_self''s)';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.send(text, text, text, text, timestamptz, timestamptz, integer, text, jsonb, text) from public, sms_sender, sms_reader, sms_worker;
