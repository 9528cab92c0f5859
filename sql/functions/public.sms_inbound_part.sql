-- sms_inbound_part: stages one part of a concatenated incoming SMS, as the worker's SMPP session
-- decoded it (sender, recipient and the UDH's or SAR TLVs' reference, total and sequence number;
-- the user data without UDH), and says what it was:
--
--   * 'staged': kept in sms_inbox_part until the rest of its set comes (a part already staged,
--     delivered again, is kept once);
--   * 'complete': it completed its set: the parts are returned in order (seqs, data_codings,
--     payloads) and removed from sms_inbox_part, and the set is remembered in sms_inbox_set. The
--     caller decodes the text and stores the SMS with sms_inbound_store(..., concat_ref => ref)
--     in the same transaction;
--   * 'duplicate': a part of a set assembled within sms_settings.redelivery_window (at least an
--     hour), with the same bytes: the SMSC delivered it again (its acknowledgement was lost).
--     Counted in sms_inbox_set.duplicate_parts (and the SMS's sms_inbox.duplicate_parts), never
--     staged: it would otherwise wait alone and be assembled into a partial second SMS after the
--     reassembly timeout. A part with other bytes under the key of an assembled set is a new SMS
--     reusing the reference: the old entry goes and the part is staged.
--
-- Parts of one set are serialised by a transaction-level advisory lock (the key the reconcile
-- task takes for the sets it assembles), so two workers receiving the last two parts at once
-- cannot both miss completing it. SECURITY DEFINER: the worker role cannot write the tables
-- (a made-up part would become an SMS, and a stop or start keyword an opt-out or opt-in). For
-- the worker role.
create or replace function public.sms_inbound_part(
  sender text, recipient text, ref integer, total integer, seq integer, data_coding integer, payload bytea,
  out status text, out seqs smallint[], out data_codings smallint[], out payloads bytea[])
returns record
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  k_sender text := sms_inbound_part.sender;
  k_recipient text := sms_inbound_part.recipient;
  k_ref integer := sms_inbound_part.ref;
  k_total integer := sms_inbound_part.total;
  k_seq integer := sms_inbound_part.seq;
  v_hash bytea;
  v_window interval;
  v_set record;
  v_hashes bytea[];
begin
  if k_sender is null or k_recipient is null or k_ref is null or k_total is null or k_seq is null
     or sms_inbound_part.data_coding is null or sms_inbound_part.payload is null then
    raise exception 'sms_inbound_part: no argument may be NULL' using errcode = '22004';
  end if;
  perform pg_advisory_xact_lock(hashtextextended(k_sender || '|' || k_recipient || '|' || k_ref || '|' || k_total, 1163));
  v_hash := sms_private.part_hash(sms_inbound_part.data_coding, sms_inbound_part.payload);
  select greatest(s.redelivery_window, interval '1 hour') into v_window from public.sms_settings s;

  select d.part_hashes, d.inbox_id, d.assembled_at into v_set
    from public.sms_inbox_set d
   where d.sender = k_sender and d.recipient = k_recipient and d.ref = k_ref and d.total = k_total
   for update;
  if found then
    if v_set.assembled_at >= now() - v_window and v_set.part_hashes[k_seq] = v_hash then
      update public.sms_inbox_set d set duplicate_parts = d.duplicate_parts + 1
       where d.sender = k_sender and d.recipient = k_recipient and d.ref = k_ref and d.total = k_total;
      if v_set.inbox_id is not null then
        update public.sms_inbox i set duplicate_parts = i.duplicate_parts + 1 where i.id = v_set.inbox_id;
      end if;
      status := 'duplicate';
      return;
    end if;
    -- Old, or another SMS under the same reference.
    delete from public.sms_inbox_set d
     where d.sender = k_sender and d.recipient = k_recipient and d.ref = k_ref and d.total = k_total;
  end if;

  insert into public.sms_inbox_part as p (sender, recipient, ref, total, seq, data_coding, payload)
  values (k_sender, k_recipient, k_ref, k_total, k_seq, sms_inbound_part.data_coding, sms_inbound_part.payload)
  on conflict on constraint sms_inbox_part_pkey do nothing;

  select array_agg(p.seq order by p.seq), array_agg(p.data_coding order by p.seq), array_agg(p.payload order by p.seq)
    into seqs, data_codings, payloads
    from public.sms_inbox_part p
   where p.sender = k_sender and p.recipient = k_recipient and p.ref = k_ref and p.total = k_total;
  if coalesce(cardinality(seqs), 0) < k_total then
    seqs := null;
    data_codings := null;
    payloads := null;
    status := 'staged';
    return;
  end if;
  perform sms_private.close_inbox_set(k_sender, k_recipient, k_ref, k_total);
  status := 'complete';
end
$$;

comment on function public.sms_inbound_part(text, text, integer, integer, integer, integer, bytea) is
  'sms-outbox: for the worker: stages a part of a concatenated incoming SMS; returns staged, duplicate (of a set already assembled: counted, not staged) or complete with the parts';

revoke all on function public.sms_inbound_part(text, text, integer, integer, integer, integer, bytea) from public, sms_sender, sms_reader, sms_worker;
grant execute on function public.sms_inbound_part(text, text, integer, integer, integer, integer, bytea) to sms_worker;
