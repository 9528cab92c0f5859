-- sms-outbox 0018: what the web console (`sms-outbox console`, src/console/) and psql users need
-- to answer "did my SMS arrive?" through SQL.
--
-- 1. sms_explain(id): the decision trail of one message as JSON (encoding and the characters
--    that decided it, segments, refusals, attempts with their errors, retries, parts with SMSC
--    ids, raw receipts, a timeline), with sms_status' ownership rules.
-- 2. sms_outbox_attempt: the error of every attempt that ended in one (a transient error put
--    back in the queue, a permanent one, a refusal, a receipt saying not delivered); a message
--    row keeps only its last error. Written by a trigger whose WHEN is false for every change
--    without an error, so the path of a delivered message pays one comparison per update. A
--    claim keeps the previous error on the row, so only a change out of `sending`, or to a
--    final status, is an attempt's end.
-- 3. sms_worker_state: each worker's SMPP bind state and heartbeat, written by the worker
--    (src/worker/reporter.ts), read by the console and `sms-outbox status`.
-- 4. Indexes the console's pages need over a large sms_outbox: messages by recipient (newest
--    first), the messages that ended badly (newest first), incoming SMS by sender.
-- 5. The reader role reads parked incoming traffic (sms_inbound_parked) and the attempt log.


-- 1. The attempt log ---------------------------------------------------------------------------

create table public.sms_outbox_attempt (
  id            bigint generated always as identity primary key,
  outbox_id     uuid not null references public.sms_outbox (id) on delete cascade,
  at            timestamptz not null default now(),
  attempt       integer not null,
  status        text not null,
  error_code    text,
  error_message text
);

comment on table public.sms_outbox_attempt is
  'sms-outbox: every status change of a message that came with an error (the attempt it ended, the status it led to, the error); the message keeps only the last one';
comment on column public.sms_outbox_attempt.attempt is 'sms_outbox.attempts at the change: the submit attempt it ended (0 for a refusal before any)';
comment on column public.sms_outbox_attempt.status is 'the status the change led to: queued (to be retried), failed, rejected, undelivered, expired';

create index sms_outbox_attempt_outbox_id_idx on public.sms_outbox_attempt (outbox_id);

create function sms_private.outbox_log_attempt() returns trigger
language plpgsql security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into public.sms_outbox_attempt (outbox_id, attempt, status, error_code, error_message)
  values (new.id, new.attempts, new.status, new.error_code, new.error_message);
  return null;
end
$$;

comment on function sms_private.outbox_log_attempt() is
  'sms-outbox internal: logs a status change that came with an error in sms_outbox_attempt (trigger on sms_outbox)';

create trigger sms_outbox_log_attempt
  after update of status on public.sms_outbox
  for each row
  when (new.error_code is not null and old.status is distinct from new.status
        and (old.status = 'sending' or new.status in ('undelivered', 'expired', 'rejected', 'failed'))
        and new.status not in ('sending', 'sent'))
  execute function sms_private.outbox_log_attempt();

alter table public.sms_outbox_attempt enable row level security;
create policy sms_reader_select on public.sms_outbox_attempt for select to sms_reader using (true);


-- 2. Workers ---------------------------------------------------------------------------------

create table public.sms_worker_state (
  worker_id          text primary key,
  host               text not null,
  pid                integer not null,
  version            text not null,
  -- SMPP_URL without its password.
  smsc               text not null,
  bind_mode          text not null,
  -- The session's state: disconnected, connecting, binding, bound, unbinding, closed; stopped
  -- once the worker has shut down.
  bind_state         text not null,
  bind_state_since   timestamptz not null,
  last_bound_at      timestamptz,
  last_problem       text,
  started_at         timestamptz not null,
  heartbeat_at       timestamptz not null default now(),
  heartbeat_interval interval not null,
  stopped_at         timestamptz
);

comment on table public.sms_worker_state is
  'sms-outbox: one row per worker process (WORKER_ID): its SMPP bind state and heartbeat; a heartbeat older than three intervals means the worker is gone';
comment on column public.sms_worker_state.bind_state is
  'disconnected, connecting, binding, bound, unbinding, closed (the SMPP session), or stopped (the worker shut down)';
comment on column public.sms_worker_state.last_problem is 'why the session last went down or a bind was refused';
comment on column public.sms_worker_state.heartbeat_interval is 'how often the worker writes heartbeat_at';

alter table public.sms_worker_state enable row level security;
create policy sms_worker_all on public.sms_worker_state for all to sms_worker using (true) with check (true);
create policy sms_reader_select on public.sms_worker_state for select to sms_reader using (true);


-- 3. Indexes for the console ------------------------------------------------------------------
--
-- Messages are listed newest first by id (a UUIDv7: time order), so the first page and a time
-- range are a scan of the primary key. A filter by recipient reads the messages to that number,
-- newest first. The second index holds only messages that ended badly: sms_send writes no entry
-- to it (an opted-out marketing message aside), the worker one per message that fails.

create index sms_outbox_recipient_idx on public.sms_outbox (recipient, id);

create index sms_outbox_ended_badly_idx on public.sms_outbox (id)
  where status in ('undelivered', 'expired', 'rejected', 'failed', 'cancelled');

create index sms_inbox_sender_idx on public.sms_inbox (sender, id);


-- 4. sms_explain ------------------------------------------------------------------------------

-- The characters of `body` matching the class `pattern`, each once, in the order they first
-- appear: {char, codepoint, first_at (1-based), count}; at most `max` of them.
create function sms_private.characters_matching(body text, pattern text, max integer)
returns jsonb
language sql immutable strict parallel safe
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(jsonb_agg(jsonb_build_object('char', x.c, 'codepoint', 'U+' || lpad(upper(to_hex(ascii(x.c))), 4, '0'),
                                               'first_at', x.pos, 'count', x.n) order by x.pos), '[]'::jsonb)
    from (select t.c, min(t.pos) as pos, count(*) as n
            from regexp_split_to_table($1, '') with ordinality as t(c, pos)
           where t.c ~ $2
           group by t.c
           order by min(t.pos)
           limit $3) x
$$;

-- The encoding part of the trail: what was chosen and why. The body itself is never returned
-- (as in sms_status): only the characters that decided the encoding or cost two units, which a
-- one-time code's digits never are.
create function sms_private.explain_encoding(o public.sms_outbox)
returns jsonb
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  c record;
  deciding jsonb;
  heavy jsonb;
  reason text;
  smart boolean;
begin
  smart := coalesce((select s.smart_encoding from public.sms_settings s), true);
  if o.redacted_at is not null then
    return jsonb_build_object(
      'encoding', o.encoding, 'segments', o.segments, 'characters', o.body_length,
      'replaced_chars', o.replaced_chars, 'body_redacted_at', o.redacted_at,
      'reason', 'the body was redacted; it was sent as ' || case o.encoding when 'ucs2' then 'UCS-2' else 'GSM-7' end
                || ' in ' || o.segments || ' part' || case when o.segments = 1 then '' else 's' end);
  end if;
  c := sms_private.count_segments(o.body);
  if c.encoding = 'ucs2' then
    deciding := sms_private.characters_matching(o.body,
      '[^]\n\r -?@-Z_a-z\u00A1\u00A3-\u00A5\u00A7\u00BF\u00C4-\u00C7\u00C9\u00D1\u00D6\u00D8\u00DC\u00DF\u00E0\u00E4-\u00E6\u00E8\u00E9\u00EC\u00F1\u00F2\u00F6\u00F8\u00F9\u00FC\u0393\u0394\u0398\u039B\u039E\u03A0\u03A3\u03A6\u03A8\u03A9\f^{}\\[~|\u20AC]', 10);
    heavy := sms_private.characters_matching(o.body, '[\U00010000-\U0010FFFF]', 10);
    reason := format('UCS-2 (70 characters in one SMS, 67 per part) because the text contains %s (%s) at character %s, which GSM-7 cannot encode',
                     quote_literal(deciding -> 0 ->> 'char'), deciding -> 0 ->> 'codepoint', deciding -> 0 ->> 'first_at');
    if jsonb_array_length(deciding) > 1 then
      reason := reason || format(' (and %s other such character%s)', jsonb_array_length(deciding) - 1,
                                 case when jsonb_array_length(deciding) = 2 then '' else 's' end);
    end if;
  else
    deciding := '[]'::jsonb;
    heavy := sms_private.characters_matching(o.body, '[]\f^{}\\[~|\u20AC]', 10);
    reason := 'GSM-7 (160 characters in one SMS, 153 per part): every character is in the GSM 03.38 tables';
    if jsonb_array_length(heavy) > 0 then
      reason := reason || '; extension characters such as ' || quote_literal(heavy -> 0 ->> 'char') || ' count as two';
    end if;
  end if;
  if o.replaced_chars > 0 then
    reason := reason || format('; smart encoding replaced %s typographic character%s by GSM-7 ones', o.replaced_chars,
                               case when o.replaced_chars = 1 then '' else 's' end);
  end if;
  return jsonb_build_object(
    'encoding', o.encoding,
    'segments', o.segments,
    'units', c.units,
    'characters', char_length(o.body),
    'single_limit', case c.encoding when 'ucs2' then 70 else 160 end,
    'part_limit', case c.encoding when 'ucs2' then 67 else 153 end,
    'deciding_characters', deciding,
    'double_characters', heavy,
    'replaced_chars', o.replaced_chars,
    'smart_encoding', smart,
    'reason', reason);
end
$$;

-- A time as the trail's sentences show it: UTC, to the second.
create function sms_private.utc(at timestamptz) returns text
language sql immutable strict parallel safe
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.to_char($1 at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"')
$$;

create function public.sms_explain(id uuid) returns jsonb
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_owner text := sms_private.caller_owner();
  v_all boolean := sms_private.caller_sees_all();
  o public.sms_outbox;
  v_max_attempts integer;
  v_parts jsonb;
  v_receipts jsonb;
  v_attempts jsonb;
  v_retries jsonb;
  v_refusals jsonb := '[]'::jsonb;
  v_timeline jsonb;
  v_outcome text;
begin
  if sms_explain.id is null then
    raise exception 'id must not be null'
      using errcode = '22004', column = 'id';
  end if;
  select x.* into o
    from public.sms_outbox x
   where x.id = sms_explain.id
     and (x.owner = v_owner or v_all);
  if not found then
    return null;                       -- unknown, or another's: the same answer
  end if;
  select s.max_attempts into v_max_attempts from public.sms_settings s;

  -- Parts and their SMSC ids: a single-part message since 0017 has no part row.
  select coalesce(jsonb_agg(jsonb_build_object('part_no', p.part_no, 'message_id', coalesce(o.message_ids[p.part_no], p.message_id),
                                               'submitted_at', p.submitted_at, 'receipt_state', p.receipt_state,
                                               'receipt_error', p.receipt_error, 'done_at', p.done_at) order by p.part_no), '[]'::jsonb)
    into v_parts
    from public.sms_outbox_part p
   where p.outbox_id = o.id;
  if v_parts = '[]'::jsonb and o.message_ids is not null then
    select jsonb_agg(jsonb_build_object('part_no', n, 'message_id', m, 'submitted_at', o.submitted_at,
                                        'receipt_state', case when o.segments = 1 then o.receipt_state end,
                                        'receipt_error', case when o.segments = 1 then o.receipt_error end,
                                        'done_at', case when o.segments = 1 and o.receipt_state is not null then o.done_at end) order by n)
      into v_parts
      from unnest(o.message_ids) with ordinality as u(m, n);
  end if;

  -- Raw receipts, without their text: field (the first characters of the body).
  select coalesce(jsonb_agg(jsonb_build_object('received_at', r.received_at, 'message_id', r.raw_message_id, 'state', r.state,
                                               'error', r.error, 'source_addr', r.source_addr, 'destination_addr', r.destination_addr,
                                               'text', regexp_replace(r.text, '(text:).*$', '\1', 'i'), 'matched_at', r.matched_at)
                            order by r.received_at, r.id), '[]'::jsonb)
    into v_receipts
    from public.sms_receipt r
   where r.outbox_id = o.id;

  select coalesce(jsonb_agg(jsonb_build_object('at', a.at, 'attempt', a.attempt, 'status', a.status,
                                               'error_code', a.error_code, 'error_message', a.error_message) order by a.id), '[]'::jsonb)
    into v_attempts
    from public.sms_outbox_attempt a
   where a.outbox_id = o.id;

  select coalesce(jsonb_agg(jsonb_build_object('retried_at', r.retried_at, 'retried_by', r.retried_by, 'status', r.status,
                                               'attempts', r.attempts, 'error_code', r.error_code, 'error_message', r.error_message,
                                               'receipt_state', r.receipt_state, 'message_ids', r.message_ids,
                                               'submitted_at', r.submitted_at, 'done_at', r.done_at) order by r.id), '[]'::jsonb)
    into v_retries
    from public.sms_outbox_retry r
   where r.outbox_id = o.id;

  -- Refusals: who said no, and why.
  if o.error_code = 'OPTED_OUT' then
    v_refusals := v_refusals || jsonb_build_object('by', case when o.done_at = o.created_at then 'sms_send' else 'worker' end,
                                                   'code', 'OPTED_OUT', 'message', o.error_message);
  elsif o.status = 'failed' then
    v_refusals := v_refusals || jsonb_build_object('by', case when o.error_code = 'LEASE_EXPIRED' then 'worker' else 'smsc' end,
                                                   'code', o.error_code, 'message', o.error_message);
  elsif o.status in ('undelivered', 'rejected') or (o.status = 'expired' and o.receipt_state is not null) then
    v_refusals := v_refusals || jsonb_build_object('by', 'network', 'code', coalesce(o.receipt_error, o.error_code),
                                                   'receipt_state', o.receipt_state, 'message', o.error_message);
  elsif o.status = 'expired' then
    v_refusals := v_refusals || jsonb_build_object('by', 'worker', 'code', 'EXPIRED', 'message',
                                                   coalesce(o.error_message, 'expired before it could be sent') || ' (expires_at ' || sms_private.utc(o.expires_at) || ')');
  elsif o.status = 'cancelled' then
    v_refusals := v_refusals || jsonb_build_object('by', 'sms_cancel', 'code', 'CANCELLED', 'message', 'cancelled before it was sent');
  end if;

  v_outcome := case o.status
    when 'queued' then case when o.attempts > o.attempts_at_retry then format('waiting to be tried again at %s after %s failed attempt%s (last: %s)',
                                                                 sms_private.utc(o.next_attempt_at), o.attempts - o.attempts_at_retry,
                                                                 case when o.attempts - o.attempts_at_retry = 1 then '' else 's' end,
                                                                 coalesce(o.error_code, 'no error recorded'))
                            when o.next_attempt_at > now() then format('scheduled for %s', sms_private.utc(o.next_attempt_at))
                            else 'waiting for a worker to send it' end
    when 'sending' then format('a worker (%s) is submitting it', coalesce(o.worker_id, 'unknown'))
    when 'sent' then case when o.expires_at < now() then format('accepted by the SMSC at %s; no receipt yet, and its validity ended at %s', sms_private.utc(o.submitted_at), sms_private.utc(o.expires_at))
                          else format('accepted by the SMSC at %s; waiting for the delivery receipt', sms_private.utc(o.submitted_at)) end
    when 'delivered' then format('delivered: the receipt (%s) came at %s', coalesce(o.receipt_state, 'DELIVRD'), sms_private.utc(o.done_at))
    when 'undelivered' then format('not delivered: the receipt said %s (error %s)', o.receipt_state, coalesce(o.receipt_error, 'none'))
    when 'expired' then case when o.receipt_state is not null then format('the network gave up: the receipt said %s', o.receipt_state)
                             else 'never sent: it expired before it could be sent' end
    when 'rejected' then case when o.error_code = 'OPTED_OUT' then 'never sent: the recipient opted out of marketing messages'
                              else format('rejected by the network: the receipt said %s (error %s)', o.receipt_state, coalesce(o.receipt_error, 'none')) end
    when 'failed' then format('failed: %s', coalesce(o.error_message, o.error_code))
    when 'cancelled' then 'cancelled before it was sent'
  end;

  -- The timeline, oldest first.
  select jsonb_agg(e.ev order by e.at, e.seq) into v_timeline
    from (
      select o.created_at as at, 1 as seq, jsonb_build_object('at', o.created_at, 'event', 'enqueued',
               'detail', format('by %s, %s, priority %s, %s part%s (%s)', o.owner, o.category, o.priority, o.segments,
                                case when o.segments = 1 then '' else 's' end, o.encoding)) as ev
      union all
      select o.send_at, 2, jsonb_build_object('at', o.send_at, 'event', 'scheduled', 'detail', 'due at send_at')
       where o.send_at > o.created_at + interval '1 second'
      union all
      select a.at, 3, jsonb_build_object('at', a.at, 'event', case a.status when 'queued' then 'attempt failed, to be retried' else 'attempt ended ' || a.status end,
                                         'detail', format('attempt %s: %s%s', a.attempt, a.error_code, coalesce(': ' || a.error_message, '')))
        from public.sms_outbox_attempt a where a.outbox_id = o.id
      union all
      select r.done_at, 4, jsonb_build_object('at', r.done_at, 'event', 'ended ' || r.status,
                                              'detail', concat_ws(': ', r.error_code, r.error_message))
        from public.sms_outbox_retry r where r.outbox_id = o.id
         and not exists (select from public.sms_outbox_attempt a where a.outbox_id = o.id and a.at = r.done_at)
      union all
      select r.retried_at, 5, jsonb_build_object('at', r.retried_at, 'event', 'retried', 'detail', format('by %s (sms_retry)', r.retried_by))
        from public.sms_outbox_retry r where r.outbox_id = o.id
      union all
      select o.submitted_at, 6, jsonb_build_object('at', o.submitted_at, 'event', 'accepted by the SMSC',
                                                   'detail', format('SMSC id%s %s', case when cardinality(o.message_ids) = 1 then '' else 's' end,
                                                                    array_to_string(o.message_ids, ', ')))
       where o.submitted_at is not null
      union all
      select r.received_at, 7, jsonb_build_object('at', r.received_at, 'event', 'receipt',
                                                  'detail', format('%s for %s%s', coalesce(r.state, 'no state'), r.raw_message_id, coalesce(' (err ' || r.error || ')', '')))
        from public.sms_receipt r where r.outbox_id = o.id
      union all
      select o.done_at, 8, jsonb_build_object('at', o.done_at, 'event', o.status, 'detail', v_outcome)
       where o.done_at is not null
      union all
      select o.redacted_at, 9, jsonb_build_object('at', o.redacted_at, 'event', 'body redacted', 'detail', 'sms_settings.redact_after')
       where o.redacted_at is not null
    ) e;

  return jsonb_build_object(
    'id', o.id,
    'status', o.status,
    'outcome', v_outcome,
    'owner', o.owner,
    'recipient', o.recipient,
    'sender', o.sender,
    'category', o.category,
    'priority', o.priority,
    'via', o.metadata ->> 'via',
    'created_at', o.created_at,
    'send_at', o.send_at,
    'expires_at', o.expires_at,
    'next_attempt_at', o.next_attempt_at,
    'submitted_at', o.submitted_at,
    'done_at', o.done_at,
    'encoding', sms_private.explain_encoding(o),
    'attempts', jsonb_build_object('made', o.attempts, 'since_last_retry', o.attempts - o.attempts_at_retry,
                                   'max', v_max_attempts, 'retries', o.retries,
                                   'last_error_code', o.error_code, 'last_error_message', o.error_message,
                                   'errors', v_attempts),
    'refusals', v_refusals,
    'retries', v_retries,
    'parts', v_parts,
    'receipts', v_receipts,
    'timeline', coalesce(v_timeline, '[]'::jsonb));
end
$$;

comment on function public.sms_explain(uuid) is
  'sms-outbox: the decision trail of one of the caller''s messages as JSON (encoding and why, segments, refusals, attempts with their errors, retries, parts with SMSC ids, receipts, timeline); NULL for an unknown id or another''s, every message for the reader role; never the body';


-- 5. Grants ---------------------------------------------------------------------------------------
--
-- To our roles first: sms_strip_inherited_grants() then gives Supabase's service_role what the
-- sender role has (sms_grant_supabase_roles), and takes everything else away.

grant execute on function public.sms_explain(uuid) to sms_sender, sms_reader;
grant select on public.sms_outbox_attempt, public.sms_worker_state to sms_reader;
grant select, insert, update, delete on public.sms_worker_state to sms_worker;

-- Parked incoming traffic: the reader sees what waits for a replay (the replay itself stays the
-- owner's: sms_inbound_replay updates the rows).
grant select on public.sms_inbound_parked to sms_reader;
create policy sms_reader_select on public.sms_inbound_parked for select to sms_reader using (true);

select public.sms_strip_inherited_grants();
