-- sms-outbox 0014: opt-out (STOP) for marketing messages, and smart encoding.
--
-- 1. Opt-out. sms_send gains `category` ('transactional', the default, or 'marketing'). A
--    recipient in sms_opt_out receives no marketing message: sms_send stores one to an opted-out
--    recipient as `rejected` with error_code OPTED_OUT (not an error: a campaign enqueued in one
--    transaction is not aborted by one recipient), and the worker's claim does the same for a
--    message whose recipient opted out after it was enqueued. Transactional
--    messages (one-time codes, receipts) go whatever sms_opt_out says.
--    An incoming SMS whose text is a stop keyword (sms_settings.stop_keywords: STOP and СТОП,
--    and what the operator adds) opts its sender out; a start keyword (START, СТАРТ) opts back
--    in. Case, white space, punctuation, symbols and emoji are ignored ("Stop!", " стоп. ").
--    It happens in a trigger on sms_inbox, so every writer (the worker, the reassembly of
--    incomplete sets, the replay of parked rows) gets it; sms_inbox.keyword_action says what it
--    did. sms_opt_out(recipient) / sms_opt_in(recipient) do the same for operators and apps;
--    sms_opt_out_log keeps every change, and sms_opt_out_stats counts them.
--
-- 2. Smart encoding (sms_settings.smart_encoding, on by default). Typographic look-alikes that
--    GSM 03.38 lacks are replaced by the GSM-7 characters they stand for when that makes the
--    whole body GSM-7 (`Hello “world” – it’s fine…` is one GSM-7 segment, not UCS-2). A body
--    that needs UCS-2 anyway (Cyrillic, emoji) keeps every character; letters are never
--    transliterated. sms_send stores the text that is sent, and in replaced_chars how many
--    characters it replaced; sms_segments counts the same way. The table is the one in
--    src/smpp/smart-encoding.ts and scripts/gen-segment-vectors.py (test/vectors/segments.json).
--
-- The functions, the trigger sms_inbox_keyword and the view sms_opt_out_stats live in sql/
-- (sms_private.smart_text, sms_private.keyword_form, sms_private.change_opt_out,
-- sms_private.inbox_keyword, sms_opt_out, sms_opt_in, and the new sms_send and sms_private.send).


-- 1. Settings --------------------------------------------------------------------------------

alter table public.sms_settings
  add column smart_encoding boolean not null default true,
  add column stop_keywords  text[] not null default array['STOP', U&'\0421\0422\041E\041F'],
  add column start_keywords text[] not null default array['START', U&'\0421\0422\0410\0420\0422'];

comment on column public.sms_settings.smart_encoding is
  'replace typographic look-alikes (curly quotes, dashes, ellipsis, special spaces, ...) by GSM-7 characters when that makes a body GSM-7';
comment on column public.sms_settings.stop_keywords is
  'an incoming SMS whose text is one of these (ignoring case, spaces, punctuation) opts its sender out of marketing messages; always includes STOP and СТОП';
comment on column public.sms_settings.start_keywords is
  'an incoming SMS whose text is one of these opts its sender back in';


-- 2. Columns -------------------------------------------------------------------------------------
--
-- Constant defaults: no table rewrite, and sms_send's fast path does not name them.

alter table public.sms_outbox
  add column category       text not null default 'transactional',
  add column replaced_chars integer not null default 0;

comment on column public.sms_outbox.category is
  'transactional (sent to every recipient) or marketing (never to a recipient in sms_opt_out)';
comment on column public.sms_outbox.replaced_chars is
  'characters smart encoding replaced by GSM-7 equivalents (or removed, when invisible) in the body stored and sent; 0: the body is as the app passed it';

alter table public.sms_inbox
  add column keyword_action text;

comment on column public.sms_inbox.keyword_action is
  'what the text did as a keyword: opt_out (a stop keyword: the sender is in sms_opt_out), opt_in (a start keyword), ignored (a keyword from a sender that is not an international number); NULL for any other text';

-- The keyword lists are stored as they are compared (the trigger sms_settings_check puts them in
-- that form); the defaults above already are.


-- 3. The opt-out list ----------------------------------------------------------------------------

create table public.sms_opt_out (
  recipient    text primary key,
  opted_out_at timestamptz not null default now(),
  source       text not null check (source in ('keyword', 'operator')),
  keyword      text,
  inbox_id     uuid,
  actor        text
);

comment on table public.sms_opt_out is
  'sms-outbox: recipients who receive no marketing message (one row each), since when and why; change with sms_opt_out() / sms_opt_in() or by SMS (stop and start keywords)';
comment on column public.sms_opt_out.recipient is 'international number, digits only, as sms_outbox.recipient';
comment on column public.sms_opt_out.source is 'keyword: an incoming SMS (inbox_id, keyword); operator: a call of sms_opt_out() (actor)';
comment on column public.sms_opt_out.keyword is 'the stop keyword, as compared (upper case, no punctuation)';
comment on column public.sms_opt_out.inbox_id is 'the sms_inbox row of the stop keyword (the row may since be purged)';
comment on column public.sms_opt_out.actor is 'who called sms_opt_out(): the caller''s role, as sms_outbox.owner names it';

-- Every change, and every keyword or call that found nothing to change, for audits and the
-- counters of sms_opt_out_stats. Never purged: a row per STOP or START.
create table public.sms_opt_out_log (
  id        bigint generated always as identity primary key,
  at        timestamptz not null default now(),
  recipient text not null,
  action    text not null check (action in ('opt_out', 'opt_in')),
  source    text not null check (source in ('keyword', 'operator')),
  keyword   text,
  inbox_id  uuid,
  actor     text,
  changed   boolean not null
);

comment on table public.sms_opt_out_log is
  'sms-outbox: every opt-out and opt-in, by keyword or by call; changed is false when the recipient already was in that state';

create index sms_opt_out_log_recipient_idx on public.sms_opt_out_log (recipient, at);

alter table public.sms_opt_out     enable row level security;
alter table public.sms_opt_out_log enable row level security;
create policy sms_reader_select on public.sms_opt_out     for select to sms_reader using (true);
create policy sms_reader_select on public.sms_opt_out_log for select to sms_reader using (true);
-- The worker's claim reads it.
create policy sms_worker_select on public.sms_opt_out     for select to sms_worker using (true);


-- 4. sms_send with category and smart encoding ----------------------------------------------------
--
-- sms_send and the general path (sms_private.send) gain `category` as a trailing argument with a
-- default, so calls with the earlier arguments (sms_send_to_self, the Auth hook) stay as they
-- are. A new argument makes a new function, so the old ones, which released versions of 0011
-- created, are dropped here; sql/ creates the new ones. (Named as routines, as everywhere outside
-- a function's own file: a grep for the definition then finds that file alone.)

drop routine if exists sms_private.send(text, text, text, text, timestamptz, timestamptz, integer, text, jsonb);
drop routine if exists public.sms_send(text, text, text, timestamptz, timestamptz, integer, text, jsonb);


-- 5. Grants ------------------------------------------------------------------------------------------

grant select on public.sms_opt_out, public.sms_opt_out_log to sms_reader;
grant select on public.sms_opt_out to sms_worker;


