-- sms_inbound_store: stores an incoming SMS as the worker decoded it: a single-part one from its
-- SMPP session, a concatenated one it assembled (from the parts sms_inbound_part returned, or
-- after the reassembly timeout from what arrived: concat_ref, the parts' UDH reference, names
-- the set, whose staged parts then leave sms_inbox_part and which sms_inbox_set remembers), or a
-- parked row it replays. Returns the new sms_inbox id, or NULL when the SMS was the SMSC
-- delivering an earlier one again (counted in that row's `deliveries`: sms_private.inbox_arrival).
--
-- The row goes through sms_inbox's triggers as any insert does: threading and redeliveries
-- (sms_private.inbox_arrival), stop and start keywords (sms_private.inbox_keyword), the
-- notification. Only the columns below are the caller's; the rest are the triggers' and the
-- defaults' (received_at is now()). SECURITY DEFINER: this is how the worker role writes
-- sms_inbox, which it may not insert into or update itself, so a stop or start keyword is acted
-- on only for what the worker stores here: what its SMPP session decoded, the sets it assembled
-- and the parked rows it replays. For the worker role.
create or replace function public.sms_inbound_store(
  sender text, recipient text, body text, body_replaced boolean, payload bytea, encoding text,
  parts integer, missing_parts integer, concat_ref integer default null)
returns uuid
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_id uuid;
  v_dups integer;
begin
  if sms_inbound_store.concat_ref is not null then
    perform pg_advisory_xact_lock(hashtextextended(sms_inbound_store.sender || '|' || sms_inbound_store.recipient || '|'
                                                   || sms_inbound_store.concat_ref || '|' || sms_inbound_store.parts, 1163));
    if exists (select from public.sms_inbox_part p
                where p.sender = sms_inbound_store.sender and p.recipient = sms_inbound_store.recipient
                  and p.ref = sms_inbound_store.concat_ref and p.total = sms_inbound_store.parts) then
      perform sms_private.close_inbox_set(sms_inbound_store.sender, sms_inbound_store.recipient, sms_inbound_store.concat_ref, sms_inbound_store.parts);
    end if;
  end if;

  insert into public.sms_inbox (sender, recipient, body, body_replaced, payload, encoding, parts, missing_parts)
  values (sms_inbound_store.sender, sms_inbound_store.recipient, sms_inbound_store.body, coalesce(sms_inbound_store.body_replaced, false),
          sms_inbound_store.payload, sms_inbound_store.encoding, sms_inbound_store.parts, coalesce(sms_inbound_store.missing_parts, 0))
  returning id into v_id;

  if sms_inbound_store.concat_ref is not null and v_id is not null then
    update public.sms_inbox_set d set inbox_id = v_id
     where d.sender = sms_inbound_store.sender and d.recipient = sms_inbound_store.recipient
       and d.ref = sms_inbound_store.concat_ref and d.total = sms_inbound_store.parts and d.inbox_id is null
    returning d.duplicate_parts into v_dups;
    if v_dups > 0 then
      update public.sms_inbox i set duplicate_parts = v_dups where i.id = v_id;
    end if;
  end if;
  return v_id;
end
$$;

comment on function public.sms_inbound_store(text, text, text, boolean, bytea, text, integer, integer, integer) is
  'sms-outbox: for the worker: stores an incoming SMS it decoded (stop and start keywords act here); returns its sms_inbox id, NULL for a redelivery counted on an earlier row';

revoke all on function public.sms_inbound_store(text, text, text, boolean, bytea, text, integer, integer, integer) from public, sms_sender, sms_reader, sms_worker;
grant execute on function public.sms_inbound_store(text, text, text, boolean, bytea, text, integer, integer, integer) to sms_worker;
