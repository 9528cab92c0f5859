-- sms_private.close_inbox_set: a concatenated incoming SMS is being assembled (complete, or after
-- the reassembly timeout with what arrived): its staged parts leave sms_inbox_part and the set is
-- remembered in sms_inbox_set with a keyed hash of each part (sms_private.part_hash), so a part
-- delivered again later is known as a duplicate (sms_inbound_part). Entries older than
-- sms_settings.redelivery_window (at least an hour) are dropped here, a few at a time, rows
-- another transaction holds skipped. The caller holds the set's advisory lock.
create or replace function sms_private.close_inbox_set(sender text, recipient text, ref integer, total integer) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_hashes bytea[];
begin
  select array_agg(sms_private.part_hash(p.data_coding, p.payload) order by s.n) into v_hashes
    from generate_series(1, close_inbox_set.total) as s(n)
    left join public.sms_inbox_part p
      on p.sender = close_inbox_set.sender and p.recipient = close_inbox_set.recipient
     and p.ref = close_inbox_set.ref and p.total = close_inbox_set.total and p.seq = s.n;
  delete from public.sms_inbox_part p
   where p.sender = close_inbox_set.sender and p.recipient = close_inbox_set.recipient
     and p.ref = close_inbox_set.ref and p.total = close_inbox_set.total;
  insert into public.sms_inbox_set as d (sender, recipient, ref, total, part_hashes)
  values (close_inbox_set.sender, close_inbox_set.recipient, close_inbox_set.ref, close_inbox_set.total, v_hashes)
  on conflict on constraint sms_inbox_set_pkey do update
    set assembled_at = now(), part_hashes = excluded.part_hashes, inbox_id = null, duplicate_parts = 0;
  delete from public.sms_inbox_set d
   where d.ctid = any (array(
           select o.ctid from public.sms_inbox_set o
            where o.assembled_at < now() - (select greatest(s.redelivery_window, interval '1 hour') from public.sms_settings s)
            order by o.assembled_at
            limit 10
              for update skip locked));
end
$$;

comment on function sms_private.close_inbox_set(text, text, integer, integer) is
  'sms-outbox internal: moves an assembled set''s staged parts to a hash per part in sms_inbox_set (sms_inbound_part, sms_inbound_store)';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.close_inbox_set(text, text, integer, integer) from public, sms_sender, sms_reader, sms_worker;
