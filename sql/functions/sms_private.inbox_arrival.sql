-- sms_private.inbox_arrival: what an incoming SMS is, decided as it is stored (a trigger on
-- sms_inbox, so every writer gets it: the worker, the reassembly of incomplete sets, the replay
-- of parked rows), whatever the writer put in these columns:
--
--   * a redelivery: the SMSC sends a deliver_sm again when its acknowledgement never came (the
--     worker died between storing it and answering, or the answer was lost with the connection).
--     SMPP gives an incoming SMS no id, so a copy is recognised by what it is: the same sender,
--     recipient and bytes as an SMS stored within sms_settings.redelivery_window, with nothing
--     enqueued for that sender from that number since, so it would answer the same message. The
--     replies a handler made to that SMS itself (in the transaction that stored it) do not count
--     while they wait to be sent: the copy may come before them, after a reconnect; once one has
--     gone out, an identical SMS may be an answer to it (an auto-responder's). It is counted in the first one's
--     `deliveries` and not stored: no second row, no NOTIFY, no keyword action, no reply handler.
--     The same text sent twice by a person, with nothing of ours between, counts the same way.
--     Copies of one sender to one number are serialised by a transaction-level lock, so two
--     workers storing the same copy at once cannot both miss the other.
--   * in_reply_to: the last message enqueued for its sender from the number it was sent to,
--     within sms_settings.reply_window, that has reached the SMSC (submitted_at). Only numbers
--     can be answered: a message from an alphanumeric sender name answers nothing.
--   * sender: a number is stored as international digits (a leading '+' goes).
--   * owner: that message's owner, whose conversation it is. An SMS that answers nothing belongs
--     to the owner of the oldest reply rule naming the number it was sent to (a keyword to a
--     shared number or short code: sms_on_inbound's recipient), else to nobody.
-- Named so it runs before sms_inbox_keyword (triggers of one event run in name order): a
-- redelivered stop keyword is not applied twice.
create or replace function sms_private.inbox_arrival() returns trigger
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  phone text;
  ours text := ltrim(new.recipient, '+');
  cfg record;
  prior record;
  thread record;
begin
  new.in_reply_to := null;
  new.owner := null;
  new.deliveries := 1;
  new.duplicate_parts := 0;
  -- A number is stored as international digits, as documented (and as sms_outbox.recipient).
  if new.sender ~ '^\+[0-9]+$' then
    new.sender := substr(new.sender, 2);
  end if;
  phone := new.sender;
  if phone !~ '^[0-9]{1,20}$' then
    -- An alphanumeric or empty sender: nothing of ours it can answer.
    new.owner := (select r.owner from public.sms_inbound_rule r where r.recipient = ours order by r.id limit 1);
    return new;
  end if;
  select s.reply_window, s.redelivery_window into cfg from public.sms_settings s;
  perform pg_advisory_xact_lock(hashtextextended(phone || '|' || ours, 2525));

  -- A copy is found through sms_inbox_copy_idx (sender, md5(body), id), a number's messages
  -- newest first through (recipient, id), the time-ordered ids bounding each scan to its window.
  -- "Not redacted" is written so that it does not match the predicate of sms_inbox_redact_idx
  -- (received_at) WHERE redacted_at IS NULL: where it did, the planner took that index for the
  -- window condition when sms_inbox had no statistics yet (a new database, a plan the worker's
  -- session keeps), which reads every SMS of the window for each one stored.
  if cfg.redelivery_window > interval '0' then
    select i.id, i.received_at into prior
      from public.sms_inbox i
     where i.sender = phone
       and md5(i.body) = md5(new.body)   -- sms_inbox_copy_idx: equal payloads decode to equal texts
       and i.id >= sms_private.uuidv7_floor(now() - cfg.redelivery_window)
       and i.received_at >= now() - cfg.redelivery_window
       and i.recipient = new.recipient
       and coalesce(i.redacted_at, 'infinity') = 'infinity'
       and i.parts = new.parts
       and i.encoding = new.encoding
       and coalesce(i.payload = new.payload, i.body = new.body)
     order by i.id desc
     limit 1;
    if found and not exists (
         select from public.sms_outbox o
          where o.recipient = phone
            and o.id >= sms_private.uuidv7_floor(prior.received_at)
            and o.created_at >= prior.received_at
            and o.sender = ours
            and (o.reply_to_inbox is distinct from prior.id or o.submitted_at is not null)) then
      update public.sms_inbox set deliveries = deliveries + 1 where id = prior.id;
      return null;
    end if;
  end if;

  select o.id, o.owner into thread
    from public.sms_outbox o
   where o.recipient = phone
     and o.id >= sms_private.uuidv7_floor(now() - cfg.reply_window)
     and o.created_at >= now() - cfg.reply_window
     and o.sender = ours
     and o.submitted_at is not null
   order by o.id desc
   limit 1;
  if found then
    new.in_reply_to := thread.id;
    new.owner := thread.owner;
  else
    new.owner := (select r.owner from public.sms_inbound_rule r where r.recipient = ours order by r.id limit 1);
  end if;
  return new;
end
$$;

comment on function sms_private.inbox_arrival() is
  'sms-outbox internal: an incoming SMS delivered again is counted, not stored; otherwise it gets in_reply_to and owner (trigger sms_inbox_arrival)';

drop trigger if exists sms_inbox_arrival on public.sms_inbox;
create trigger sms_inbox_arrival
  before insert on public.sms_inbox
  for each row execute function sms_private.inbox_arrival();

-- A trigger function: nobody calls it.
revoke all on function sms_private.inbox_arrival() from public, sms_sender, sms_reader, sms_worker;
