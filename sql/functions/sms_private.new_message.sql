-- sms_private.new_message: the message sms_send would enqueue, and the one implementation of its
-- rules. sms_private.send (sms_send's general path, sms_send_to_self, the Supabase Auth hook)
-- inserts the row it returns; the trigger sms_outbox_insert (an app's INSERT INTO sms_outbox)
-- returns it as the row to insert. Every rule of sms_send, argument by argument:
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
--   * idempotency keys are per owner: when the owner already has a message with the key, the
--     same recipient and body (as passed or as sent, or once redacted the same hash) make it a
--     repeat: repeat_of is its id and nothing is to be inserted; another message is 23505. The
--     key comes before the settings: a repeat finds its message even if the settings changed;
--   * then what the settings refuse: more parts than max_segments (22001), no sender and no
--     default sender (22004), an expiry (the default validity after send_at) in the year 10000.
-- `message` is the complete row (id, times, status and counters included), so an INSERT of it
-- names every column and does not fire sms_outbox_insert. A concurrent transaction may still
-- take the key between this check and the INSERT: sms_private.send inserts with ON CONFLICT and
-- asks again. The owner is an argument, so nobody but the owner of the schema may call it.
create or replace function sms_private.new_message(
  owner           text,
  recipient       text,
  body            text,
  sender          text,
  send_at         timestamptz,
  expires_at      timestamptz,
  priority        integer,
  idempotency_key text,
  metadata        jsonb,
  category        text,
  out message     public.sms_outbox,
  out repeat_of   uuid
)
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
  cfg record;
  v_prior record;
begin
  -- Sizes first: nothing below scans a text longer than any message can be.
  if new_message.idempotency_key is not null then
    if new_message.idempotency_key = '' then
      raise exception 'idempotency_key must not be empty; pass NULL for none'
        using errcode = '22023', column = 'idempotency_key';
    elsif char_length(new_message.idempotency_key) > 255 then
      raise exception 'idempotency_key has % characters; at most 255 are allowed', char_length(new_message.idempotency_key)
        using errcode = '22001', column = 'idempotency_key';
    end if;
  end if;
  v_length := char_length(new_message.body);
  if v_length > 39015 then
    select s.max_segments into cfg from public.sms_settings s;
    raise exception 'body has % characters; the limit of % segments holds at most %', v_length,
        coalesce(cfg.max_segments, 255), greatest(160, 153 * coalesce(cfg.max_segments, 255))
      using errcode = '22001', column = 'body',
            hint = 'one segment holds 160 GSM-7 or 70 UCS-2 characters, each further part 153 or 67';
  end if;

  v_category := coalesce(new_message.category, 'transactional');
  if v_category not in ('transactional', 'marketing') then
    raise exception 'category must be ''transactional'' or ''marketing'', got %', quote_literal(left(v_category, 40))
      using errcode = '22023', column = 'category',
            hint = 'marketing messages are never sent to a recipient in sms_opt_out; transactional ones (codes, receipts) always are';
  end if;

  if new_message.recipient ~ '^\+?(?!89)[1-9][0-9]{6,14}$' then
    v_recipient := ltrim(new_message.recipient, '+');
  else
    v_recipient := sms_private.check_recipient(new_message.recipient);
  end if;

  -- The body's rules are checked on the text the app passed; what is counted and stored is the
  -- text that is sent (smart encoding, when on, replaces look-alikes if that makes it GSM-7).
  v_body := new_message.body;
  if v_length <= 70
     and new_message.body !~ '[\u0001-\u0008\u000B\u000E-\u001F\u007F-\u009F\uFFFD-\uFFFF\U00010000-\U0010FFFF]'
     and new_message.body ~ '[^\s\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u2800\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF0-\uFFFB]' then
    v_segments := 1;
  else
    v_count := sms_private.check_body(new_message.body);
    v_encoding := v_count.encoding;
    v_segments := v_count.segments;
  end if;
  if new_message.body ~ '[\t\u0060\u00A0\u00AB\u00AD\u00B4\u00BB\u02BC\u02C6\u02DC\u2000-\u200D\u2010-\u2015\u2018-\u201F\u2024-\u2026\u2028\u2029\u202F\u2032\u2033\u2035\u2036\u2039\u203A\u2043\u2044\u205F\u2060\u2212\u2215\u3000\uFE58\uFE63\uFEFF\uFF0D]'
     and coalesce((select s.smart_encoding from public.sms_settings s), true) then
    v_smart := sms_private.smart_text(new_message.body);
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

  if new_message.sender is not null then
    v_sender := sms_private.check_sender(new_message.sender);
  end if;

  -- send_at: NULL or a past time means now; the row is due at the later of the two. Times from
  -- the year 10000 on are refused: ISO 8601 and most clients stop at 9999, and adding the
  -- validity to the last time PostgreSQL can store overflows (22008 naming no argument). So is a
  -- send_at whose default expiry (plus sms_settings.default_validity) would reach that year.
  if new_message.send_at is null then
    v_send_at := now();
    v_due := v_send_at;
  elsif not isfinite(new_message.send_at) then
    raise exception 'send_at must be a finite time, got %', new_message.send_at
      using errcode = '22023', column = 'send_at';
  elsif new_message.send_at >= timestamptz '10000-01-01 00:00:00+00' then
    raise exception 'send_at % is too far in the future; expected a time before the year 10000', new_message.send_at
      using errcode = '22008', column = 'send_at';
  else
    v_send_at := new_message.send_at;
    v_due := greatest(v_send_at, now());
  end if;

  -- expires_at: NULL means the configured validity after the message is due (so a send_at in
  -- the past does not make a message born expired); the INSERT fills it in.
  if new_message.expires_at is not null then
    if not isfinite(new_message.expires_at) then
      raise exception 'expires_at must be a finite time, got %', new_message.expires_at
        using errcode = '22023', column = 'expires_at';
    elsif new_message.expires_at >= timestamptz '10000-01-01 00:00:00+00' then
      raise exception 'expires_at % is too far in the future; expected a time before the year 10000', new_message.expires_at
        using errcode = '22008', column = 'expires_at';
    elsif new_message.expires_at <= now() then
      raise exception 'expires_at % is in the past; expected a time after now (%)', new_message.expires_at, now()
        using errcode = '22023', column = 'expires_at';
    elsif new_message.expires_at <= v_due then
      raise exception 'expires_at % is not after send_at %; a message must be able to live after it is due', new_message.expires_at, v_due
        using errcode = '22023', column = 'expires_at';
    end if;
    v_expires_at := new_message.expires_at;
  end if;

  v_priority := coalesce(new_message.priority, 0);
  if v_priority < -10 or v_priority > 10 then
    raise exception 'priority must be between -10 and 10 (higher is sent first), got %', v_priority
      using errcode = '22003', column = 'priority';
  end if;

  if new_message.metadata is not null and jsonb_typeof(new_message.metadata) <> 'null' then   -- JSON null: none
    if jsonb_typeof(new_message.metadata) <> 'object' then
      raise exception 'metadata must be a JSON object, got a JSON %', jsonb_typeof(new_message.metadata)
        using errcode = '22023', column = 'metadata',
              hint = 'wrap the value in an object, e.g. {"order_id": 42}';
    elsif octet_length(new_message.metadata::text) > 8192 then
      raise exception 'metadata is % bytes as JSON text; at most 8192 are allowed', octet_length(new_message.metadata::text)
        using errcode = '22001', column = 'metadata',
              hint = 'store large data in your own table and put its key in metadata';
    end if;
    v_metadata := new_message.metadata;
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
    if v_ctx.owner = new_message.owner then
      v_reply_to := v_ctx.inbox_id;
      select s.auto_reply_limit, s.auto_reply_window into v_guard from public.sms_settings s;
      if v_refusal is null
         and (select count(*) from (select from public.sms_outbox o
                                     where o.recipient = v_recipient
                                       and o.id >= sms_private.uuidv7_floor(now() - v_guard.auto_reply_window)
                                       and o.created_at >= now() - v_guard.auto_reply_window
                                       and o.reply_to_inbox is not null
                                       and o.owner = new_message.owner
                                     limit v_guard.auto_reply_limit) x) >= v_guard.auto_reply_limit then
        v_refusal := 'REPLY_LOOP';
        v_refusal_message := format('not sent: %s replies from reply handlers went to this number within %s (sms_settings.auto_reply_limit): a reply loop?',
                                    v_guard.auto_reply_limit, v_guard.auto_reply_window);
      end if;
    end if;
  end if;

  if new_message.idempotency_key is not null then
    select o.id, o.recipient, o.body, o.redacted_at, o.body_hash into v_prior
      from public.sms_outbox o
     where o.owner = new_message.owner
       and o.idempotency_key = new_message.idempotency_key;
    if found then
      -- The same body as passed or as sent (smart encoding may have been switched since), or,
      -- once the body is redacted, the same hash.
      if v_prior.recipient = v_recipient
         and (case when v_prior.redacted_at is null then v_prior.body in (v_body, new_message.body)
                   else v_prior.body_hash in (sms_private.body_hash(v_body), sms_private.body_hash(new_message.body)) end) then
        repeat_of := v_prior.id;                             -- a repeat: nothing to insert
        return;
      end if;
      -- Neither the first message's id nor what differs: under a shared owner (service_role)
      -- the caller may not be the part of the app that sent it.
      raise exception 'idempotency_key % was already used for a different message', quote_literal(new_message.idempotency_key)
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
    -- read too, not only the times passed.
    if new_message.send_at is not null then
      raise exception 'send_at % is too far in the future: the message would expire (send_at plus the default validity, %) in the year 10000 or later',
          new_message.send_at, cfg.default_validity
        using errcode = '22008', column = 'send_at',
              hint = 'pass an earlier send_at, or an expires_at before the year 10000';
    end if;
    raise exception 'expires_at (now plus the default validity, %) would be in the year 10000 or later', cfg.default_validity
      using errcode = '22008', column = 'expires_at',
            hint = 'pass expires_at, or shorten sms_settings.default_validity';
  end if;

  message.id := public.sms_uuidv7();
  message.created_at := now();
  message.updated_at := now();
  message.owner := new_message.owner;
  message.recipient := v_recipient;
  message.sender := coalesce(v_sender, cfg.default_sender);
  message.body := v_body;
  message.encoding := v_encoding;
  message.segments := v_segments;
  message.priority := v_priority;
  message.send_at := v_send_at;
  message.expires_at := coalesce(v_expires_at, v_due + cfg.default_validity);
  message.next_attempt_at := v_due;
  message.idempotency_key := new_message.idempotency_key;
  message.metadata := v_metadata;
  message.category := v_category;
  message.replaced_chars := v_replaced;
  message.reply_to_inbox := v_reply_to;
  message.attempts := 0;
  message.retries := 0;
  message.attempts_at_retry := 0;
  if v_refusal is not null then
    message.status := 'rejected';
    message.done_at := now();
    message.error_code := v_refusal;
    message.error_message := v_refusal_message;
  else
    message.status := 'queued';
  end if;
end
$$;

comment on function sms_private.new_message(text, text, text, text, timestamptz, timestamptz, integer, text, jsonb, text) is
  'sms-outbox internal: sms_send''s rules, one implementation: the row to insert for these arguments (or the id of the message they repeat); raises what sms_send raises';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.new_message(text, text, text, text, timestamptz, timestamptz, integer, text, jsonb, text) from public, sms_sender, sms_reader, sms_worker;
