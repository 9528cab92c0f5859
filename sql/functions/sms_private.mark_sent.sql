-- sms_private.mark_sent(worker_id, results, receipt_candidates): sending → sent, with the SMSC id
-- of every part in sms_outbox.message_ids, and where receipts are matched against it: a
-- single-part message's normalised id in sms_outbox.smsc_message_id, one sms_outbox_part row per
-- part for a message of several. `results` is a JSON array of {"id", "attempts", "message_ids"
-- (as the SMSC returned them), "parts" (the same ids normalised)}; only rows still held by
-- worker_id at that attempt move (fenced as sms_private.release_unsent says). Returns the ids that
-- changed, each with the stored, unmatched receipts whose id is one of receipt_candidates (the new
-- parts' ids in every form; the same list on every row): receipts that arrived before their own
-- submit result was written, to be matched now.
create or replace function sms_private.mark_sent(worker_id text, results jsonb, receipt_candidates text[])
returns table (id uuid, waiting json)
language plpgsql volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_custom_plan
set jit = off
as $$
#variable_conflict use_column
begin
  return query
    with r as (
      select * from jsonb_to_recordset(mark_sent.results) as r(id uuid, attempts int, message_ids text[], parts text[])
    ), held as (
      delete from sms_private.outbox_lease l
       using r
       where l.outbox_id = r.id and l.worker_id = mark_sent.worker_id and l.attempt = r.attempts
      returning l.outbox_id as id, l.attempt
    ), sent as (
      update public.sms_outbox o
         set status = 'sent', submitted_at = now(), message_ids = r.message_ids,
             smsc_message_id = case when o.segments = 1 and cardinality(r.parts) = 1 then r.parts[1] end,
             attempts = held.attempt, worker_id = mark_sent.worker_id,
             error_code = null, error_message = null, updated_at = now()
        from r join held using (id)
       where o.id = r.id
      returning o.id, o.smsc_message_id is not null as single, sms_private.announce_status(o.id, 'sent')
    ), parts as (
      insert into public.sms_outbox_part (outbox_id, part_no, message_id)
      select r.id, p.part_no, p.message_id
        from r join sent using (id)
        cross join lateral unnest(r.parts) with ordinality as p(message_id, part_no)
       where not sent.single
      on conflict (outbox_id, part_no) do update
        set message_id = excluded.message_id, submitted_at = now(), receipt_state = null, receipt_error = null, done_at = null
    )
    -- The same list on every row: an uncorrelated subquery, run once.
    select s.id,
           (select coalesce(json_agg(json_build_object('id', x.id::text, 'rawId', x.raw_message_id, 'state', x.state, 'error', x.error)), '[]')
              from public.sms_receipt x
             where x.matched_at is null and x.message_id = any(mark_sent.receipt_candidates))
      from sent s;
end
$$;

comment on function sms_private.mark_sent(text, jsonb, text[]) is
  'sms-outbox internal: sending rows this worker holds become sent, with their SMSC ids; returns them with the stored receipts now matchable';

revoke all on function sms_private.mark_sent(text, jsonb, text[]) from public, sms_sender, sms_reader, sms_worker;
grant execute on function sms_private.mark_sent(text, jsonb, text[]) to sms_worker;
