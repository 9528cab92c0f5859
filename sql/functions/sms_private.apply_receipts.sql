-- sms_private.apply_receipts(receipts): sent → delivered / undelivered / expired / rejected.
-- Matches delivery receipts to submitted parts by SMSC message id and applies them. `receipts` is a
-- JSON array of {"idx" (the receipt's place in the caller's batch), "candidates" (its id as
-- received, normalised, then its hex/decimal reinterpretations, in order of preference), "state"
-- (normalised, e.g. DELIVRD), "error"}. For each receipt the first candidate that names a part
-- wins, and among parts sharing an id (SMSCs recycle them) the most recently submitted. A part is
-- a row of sms_outbox_part, or, for a single-part message (migration 0017), the message itself
-- (part_no 0), matched on sms_outbox.smsc_message_id while it has message_ids (sms_retry clears
-- them, so a late receipt of an earlier attempt matches nothing). A final state
-- (sms_private.final_receipt_states) is never replaced by a progress state or by a later final
-- one.
--
-- A single-part message's status follows from its one receipt, in the same statement; a message
-- of several parts needs all its parts: `delivered` once every part is delivered, `undelivered` /
-- `expired` / `rejected` as soon as one part ends that way (the first to end decides), `sent`
-- while parts are pending. Receipts for two parts of one message can be applied at once by two
-- transactions (the store's inbound flush and a re-match behind an outcome flush, or two
-- workers); each would see only its own part delivered and leave the message `sent` for good. So
-- those messages are locked first, in one order: the second waits for the first to commit, and
-- its next statement sees both parts. The status tests are written `coalesce(status, '') =
-- 'sent'` so the planner reaches rows by primary key rather than through the partial index of
-- sent rows (see sms_private.release_unsent).
--
-- Returns one row per receipt that matched a part: its idx, the message, the message's new
-- status when this call made it final, and the seconds from the part's submit result being
-- stored to this receipt ending it (NULL unless this receipt ended the part). Receipts that match
-- nothing yet are the caller's to keep (sms_receipt) and match again later.
create or replace function sms_private.apply_receipts(receipts jsonb)
returns table (idx integer, outbox_id uuid, final_status text, latency double precision)
language plpgsql volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_custom_plan
set jit = off
as $$
#variable_conflict use_column
declare
  m_idx integer[];
  m_outbox uuid[];
  m_updated boolean[];
  m_final text[];
  m_latency double precision[];
  finals jsonb;                   -- message id -> the final status it took in this call
  pending uuid[];
begin
  with r as (
    select * from jsonb_to_recordset(apply_receipts.receipts) as r(idx int, candidates text[], state text, error text)
  ), m as materialized (
    -- Each candidate id is looked up through the indexes (a lateral subquery): joined as sets,
    -- the planner may hash a whole table instead.
    select distinct on (r.idx) r.idx, r.state, r.error, x.outbox_id, x.part_no, x.old_state, x.submitted_at
      from r
      cross join lateral unnest(r.candidates) with ordinality as c(message_id, preference)
      cross join lateral (
        select p.outbox_id, p.part_no, p.receipt_state as old_state, p.submitted_at
          from public.sms_outbox_part p
         where p.message_id = c.message_id
        union all
        select o.id, 0::smallint, o.receipt_state, o.submitted_at
          from public.sms_outbox o
         where o.smsc_message_id = c.message_id and o.message_ids is not null
      ) x
     order by r.idx, c.preference, x.submitted_at desc
  ), upd as (
    update public.sms_outbox_part p
       set receipt_state = m.state, receipt_error = m.error, done_at = now()
      from m
     where p.outbox_id = m.outbox_id and p.part_no = m.part_no and m.state is not null
       and (p.receipt_state is null or p.receipt_state <> all (sms_private.final_receipt_states()))
    returning p.outbox_id, p.part_no
  ), single as (
    update public.sms_outbox o
       set status = sms_private.receipt_status(m.state),
           receipt_state = m.state,
           receipt_error = m.error,
           error_code = case when m.state <> 'DELIVRD' then m.error else o.error_code end,
           error_message = case when m.state <> 'DELIVRD' then 'receipt: ' || m.state else o.error_message end,
           done_at = now(),
           updated_at = now()
      from m
     where o.id = m.outbox_id and o.segments = 1
       and coalesce(o.status, '') = 'sent'
       and m.state = any (sms_private.final_receipt_states())
       and (m.old_state is null or m.old_state <> all (sms_private.final_receipt_states()))
    returning o.id, o.status, sms_private.announce_status(o.id, o.status)
  )
  select array_agg(m.idx), array_agg(m.outbox_id), array_agg(u.outbox_id is not null), array_agg(s.status),
         array_agg(case when (u.outbox_id is not null or (m.part_no = 0 and s.id is not null))
                         and m.state = any (sms_private.final_receipt_states())
                        then extract(epoch from now() - m.submitted_at)::float8 end)
    into m_idx, m_outbox, m_updated, m_final, m_latency
    from m
    left join upd u on u.outbox_id = m.outbox_id and u.part_no = m.part_no
    left join single s on s.id = m.outbox_id;
  if m_idx is null then
    return;
  end if;
  select coalesce(jsonb_object_agg(x.o, x.f), '{}') into finals
    from (select distinct on (o) o, f from unnest(m_outbox, m_final) as u(o, f) where f is not null) x;

  -- Messages of several parts (and the rare single-part one whose receipt was only progress).
  select array_agg(distinct u.o) into pending
    from unnest(m_outbox, m_updated) as u(o, updated)
   where u.updated and not finals ? u.o::text;
  if pending is not null then
    perform from public.sms_outbox o where o.id = any (pending) order by o.id for update;
    with agg as materialized (
      select p.outbox_id,
             count(*) filter (where p.receipt_state = 'DELIVRD') as delivered,
             (array_agg(p.receipt_state order by p.done_at, p.part_no)
                filter (where p.receipt_state <> 'DELIVRD' and p.receipt_state = any (sms_private.final_receipt_states())))[1] as bad_state,
             (array_agg(p.receipt_error order by p.done_at, p.part_no)
                filter (where p.receipt_state <> 'DELIVRD' and p.receipt_state = any (sms_private.final_receipt_states())))[1] as bad_error,
             (array_agg(p.receipt_error order by p.done_at desc, p.part_no)
                filter (where p.receipt_state = 'DELIVRD'))[1] as ok_error
        from public.sms_outbox_part p
       where p.outbox_id = any (pending)
       group by p.outbox_id
    ), changed as (
      update public.sms_outbox o
         set status = sms_private.receipt_status(coalesce(agg.bad_state, 'DELIVRD')),
             receipt_state = coalesce(agg.bad_state, 'DELIVRD'),
             receipt_error = case when agg.bad_state is not null then agg.bad_error else agg.ok_error end,
             error_code = case when agg.bad_state is not null then agg.bad_error else o.error_code end,
             error_message = case when agg.bad_state is not null then 'receipt: ' || agg.bad_state else o.error_message end,
             done_at = now(),
             updated_at = now()
        from agg
       where o.id = agg.outbox_id
         and coalesce(o.status, '') = 'sent'
         and (agg.bad_state is not null or agg.delivered >= o.segments)
      returning o.id, o.status, sms_private.announce_status(o.id, o.status)
    )
    select finals || coalesce(jsonb_object_agg(c.id, c.status), '{}') into finals
      from changed c;
  end if;

  -- Each match, with the final status its message took in this call (from any of its receipts).
  return query
    select u.i, u.o, finals ->> u.o::text, u.l
      from unnest(m_idx, m_outbox, m_latency) as u(i, o, l);
end
$$;

comment on function sms_private.apply_receipts(jsonb) is
  'sms-outbox internal: matches delivery receipts to submitted parts and sets the status of the messages they finish; returns the matches';

revoke all on function sms_private.apply_receipts(jsonb) from public, sms_sender, sms_reader, sms_worker;
grant execute on function sms_private.apply_receipts(jsonb) to sms_worker;
