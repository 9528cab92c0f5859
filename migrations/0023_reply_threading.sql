-- sms-outbox 0023: incoming SMS threaded to what we sent them (issue 25, first part).
--
-- 1. sms_inbox.in_reply_to: the message of ours an incoming SMS answers, the last one we sent to
--    its sender from the number it was sent to, within sms_settings.reply_window. sms_inbox.owner:
--    whose conversation it is (that message's owner), for sms_conversation and, later, the
--    owner's reply handlers. sms_inbox.deliveries: how often the SMSC delivered it (a deliver_sm
--    whose acknowledgement was lost comes again after a reconnect; it is counted there, not
--    stored twice: see sms_private.inbox_arrival). All three are set by a trigger, whatever the
--    writer passes.
-- 2. sms_outbox.reply_to_inbox: the incoming SMS a message answers, for messages an app sends
--    from a reply handler (set by sms_send there).
-- 3. No index of its own: threading, conversations, redeliveries and the loop guard of
--    auto-replies read a number's messages and incoming SMS newest first through 0021's
--    sms_outbox_recipient_idx (recipient, id) and sms_inbox_sender_idx (sender, id), the ids
--    being time-ordered (UUIDv7: sms_private.uuidv7_floor gives the bound of a time window).
--
-- The trigger function and sms_conversation live in sql/.

alter table public.sms_inbox
  add column in_reply_to uuid,
  add column owner text,
  add column deliveries integer not null default 1 check (deliveries >= 1);

comment on column public.sms_inbox.in_reply_to is
  'the message of ours this SMS answers (sms_outbox.id): the last one sent to its sender from the number it was sent to, within sms_settings.reply_window; NULL when none (the message may since have been purged)';
comment on column public.sms_inbox.owner is
  'whose conversation this is, as sms_outbox.owner names owners: the owner of in_reply_to (or of the reply rules that claim the number it was sent to); NULL: nobody''s, seen by the reader role alone';
comment on column public.sms_inbox.deliveries is
  'how often the SMSC delivered this SMS: a copy with the same sender, recipient and bytes within sms_settings.redelivery_window, with nothing sent to that sender in between, is counted here instead of stored again';

alter table public.sms_outbox add column reply_to_inbox uuid;

comment on column public.sms_outbox.reply_to_inbox is
  'the incoming SMS (sms_inbox.id) this message answers: set for a message sent from a reply handler; NULL otherwise';

alter table public.sms_settings
  add column reply_window interval not null default interval '7 days'
    constraint sms_settings_reply_window_check check (reply_window >= interval '1 minute' and reply_window <= interval '1 year'),
  add column redelivery_window interval not null default interval '1 day'
    constraint sms_settings_redelivery_window_check check (redelivery_window >= interval '0' and redelivery_window <= interval '30 days');

comment on column public.sms_settings.reply_window is
  'an incoming SMS answers (in_reply_to) the last message sent to its sender from the number it was sent to, if that message was enqueued within this long';
comment on column public.sms_settings.redelivery_window is
  'an incoming SMS like one stored within this long (same sender, recipient and bytes, nothing sent to that sender since) is the SMSC delivering it again: counted in sms_inbox.deliveries, not stored twice; 0 turns this off';

-- sms_conversation returns these rows.
create type public.sms_conversation_row as (
  direction      text,
  id             uuid,
  at             timestamptz,
  sender         text,
  recipient      text,
  body           text,
  status         text,
  in_reply_to    uuid,
  keyword_action text
);

comment on type public.sms_conversation_row is 'sms-outbox: a row sms_conversation returns';
