-- sms-outbox 0025: incoming SMS stored through functions only; parts delivered again after their
-- set was assembled counted, not staged (issue 19).
--
-- 1. The worker role no longer writes sms_inbox or sms_inbox_part itself: INSERT and UPDATE are
--    taken back (it keeps SELECT, and DELETE for the purge and for sets it parks). It stores an
--    incoming SMS with sms_inbound_store and a part of a concatenated one with sms_inbound_part
--    (SECURITY DEFINER, in sql/): a stop or start keyword (the trigger sms_inbox_keyword) is
--    acted on only for what reaches sms_inbox through them, which the worker calls for what its
--    SMPP session decoded, for sets it assembles and for parked rows it replays. A login granted
--    the worker role can no longer insert a made-up STOP or START into sms_inbox, nor change a
--    stored row (its sender, text, owner or keyword_action) afterwards.
-- 2. sms_inbox_set: the concatenated SMS assembled lately, by key (sender, recipient, UDH
--    reference, total) with a keyed hash of each part, kept for sms_settings.redelivery_window
--    (at least an hour). A part that comes again after its set was assembled (the SMSC
--    redelivers a deliver_sm whose acknowledgement was lost) matches one of those hashes: it is
--    counted in sms_inbox_set.duplicate_parts and sms_inbox.duplicate_parts, never staged, so it
--    cannot be assembled into a partial second message after the reassembly timeout. A part with
--    other bytes under the same key is a new SMS reusing the reference (phones cycle through
--    256): the old entry goes and the part is staged as before.

create table public.sms_inbox_set (
  sender          text not null,
  recipient       text not null,
  ref             integer not null,
  total           smallint not null,
  assembled_at    timestamptz not null default now(),
  part_hashes     bytea[] not null,
  inbox_id        uuid,
  duplicate_parts integer not null default 0 check (duplicate_parts >= 0),
  primary key (sender, recipient, ref, total)
);

create index sms_inbox_set_assembled_at_idx on public.sms_inbox_set (assembled_at);

comment on table public.sms_inbox_set is
  'sms-outbox: concatenated incoming SMS assembled lately (kept for sms_settings.redelivery_window, at least an hour), so a part delivered again afterwards is counted as a duplicate instead of staged for a new message';
comment on column public.sms_inbox_set.part_hashes is
  'per sequence number (1-based), sha256 of the database''s redaction key, the data_coding and the part''s bytes; NULL for a part that never came';
comment on column public.sms_inbox_set.inbox_id is
  'the sms_inbox row the set became (NULL: counted as a redelivery of an earlier one, or not stored yet)';
comment on column public.sms_inbox_set.duplicate_parts is
  'parts of this set delivered again after it was assembled';

alter table public.sms_inbox_set enable row level security;
create policy sms_reader_select on public.sms_inbox_set for select to sms_reader using (true);
grant select on public.sms_inbox_set to sms_reader;

alter table public.sms_inbox
  add column duplicate_parts integer not null default 0 check (duplicate_parts >= 0);

comment on column public.sms_inbox.duplicate_parts is
  'parts of this concatenated SMS the SMSC delivered again after it was assembled: counted here, not stored (sms_inbox_set)';

revoke insert, update on public.sms_inbox, public.sms_inbox_part from sms_worker;
drop policy sms_worker_all on public.sms_inbox;
drop policy sms_worker_all on public.sms_inbox_part;
create policy sms_worker_select on public.sms_inbox for select to sms_worker using (true);
create policy sms_worker_delete on public.sms_inbox for delete to sms_worker using (true);
create policy sms_worker_select on public.sms_inbox_part for select to sms_worker using (true);
create policy sms_worker_delete on public.sms_inbox_part for delete to sms_worker using (true);
