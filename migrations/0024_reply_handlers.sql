-- sms-outbox 0024: reply handlers (issue 25, second part).
--
-- An owner registers a SQL function for the incoming SMS of its conversations that match a rule
-- (sms_on_inbound); the worker calls it in the transaction that stores the SMS, with the
-- owner's rights. How that is made safe is told where it is done: sms_on_inbound (the gateway
-- function of each rule, in schema sms_handler) and sms_inbound_run (the call).
--
-- 1. Schema sms_handler: one function per rule, rule_<id>(inbox sms_inbox, in_reply_to uuid),
--    SECURITY DEFINER and owned by the role that registered the rule, calling its handler. Only
--    the owner of the schema may use it, so nobody else can name, call or change those
--    functions (not even the roles that own them).
-- 2. sms_inbound_rule: the rules. sms_handler_error: a handler call that raised (or ran out of
--    time), with its error, until replayed (sms_handler_replay) or the SMS is purged.
-- 3. Settings: the loop guard of auto-replies.
--
-- The functions live in sql/.

create schema sms_handler;
revoke all on schema sms_handler from public;

comment on schema sms_handler is
  'sms-outbox: one gateway function per reply rule (rule_<id>), owned by the rule''s role, calling its handler; used by the owner of the schema alone';

create table public.sms_inbound_rule (
  id                bigint generated always as identity primary key,
  created_at        timestamptz not null default now(),
  owner             text not null,
  runs_as           name not null,
  handler           regprocedure not null,
  keywords          text[],
  keyword_keys      text[],
  pattern           text,
  recipient         text,
  reply_to_category text,
  reply_to_metadata jsonb,
  timeouts          integer not null default 0,
  suspended_at      timestamptz,
  suspended_reason  text,
  check ((keywords is null) = (keyword_keys is null))
);

comment on table public.sms_inbound_rule is
  'sms-outbox: reply rules: which incoming SMS of an owner''s conversations its handler is called for (sms_on_inbound, sms_off_inbound)';
comment on column public.sms_inbound_rule.owner is 'whose rule it is, as sms_outbox.owner names owners: it sees the incoming SMS whose sms_inbox.owner this is';
comment on column public.sms_inbound_rule.runs_as is 'the role whose rights the handler runs with: the role that registered the rule';
comment on column public.sms_inbound_rule.handler is 'the function called as handler(inbox sms_inbox, in_reply_to uuid)';
comment on column public.sms_inbound_rule.keywords is 'the first word of the SMS must be one of these (as stop keywords are compared); NULL: any text';
comment on column public.sms_inbound_rule.keyword_keys is 'the keywords as compared (look-alike letters folded)';
comment on column public.sms_inbound_rule.pattern is 'a regular expression the whole text must match (PostgreSQL ~); NULL: any text';
comment on column public.sms_inbound_rule.recipient is 'the number or short code the SMS must have been sent to (digits); a rule naming one also claims the SMS to it that answer nothing';
comment on column public.sms_inbound_rule.reply_to_category is 'the SMS must answer a message of this category';
comment on column public.sms_inbound_rule.reply_to_metadata is 'the SMS must answer a message whose metadata contains this object (jsonb @>)';
comment on column public.sms_inbound_rule.timeouts is 'handler calls in a row that ran out of time';
comment on column public.sms_inbound_rule.suspended_at is 'set when the handler ran out of time 3 calls in a row, or would not stop when cancelled: its SMS are stored with an error (sms_handler_error) instead of handled until the rule is registered again (sms_on_inbound with the same arguments)';
comment on column public.sms_inbound_rule.suspended_reason is 'why it was suspended';

-- Matching reads only the rules an SMS can match: an owner's rules without keywords, and the
-- rules whose keywords hold the SMS's first word (whoever's: the owner is checked after), so it
-- costs the same with 1 rule or 100.
create index sms_inbound_rule_owner_idx on public.sms_inbound_rule (owner) where keyword_keys is null;
create index sms_inbound_rule_keyword_idx on public.sms_inbound_rule using gin (keyword_keys);
create index sms_inbound_rule_recipient_idx on public.sms_inbound_rule (recipient) where recipient is not null;

create table public.sms_handler_error (
  id                  bigint generated always as identity primary key,
  inbox_id            uuid not null references public.sms_inbox (id) on delete cascade,
  rule_id             bigint not null references public.sms_inbound_rule (id) on delete cascade,
  owner               text not null,
  failed_at           timestamptz not null default now(),
  error_code          text not null,
  error_message       text not null,
  error_context       text,
  attempts            integer not null default 1 check (attempts >= 1),
  replay_requested_at timestamptz,
  unique (inbox_id, rule_id)
);

comment on table public.sms_handler_error is
  'sms-outbox: reply handler calls that raised or ran out of time, one row per incoming SMS and rule; the SMS itself is stored. Replay with sms_handler_replay(id) once the handler is fixed';
comment on column public.sms_handler_error.owner is 'the rule''s owner';
comment on column public.sms_handler_error.error_code is 'the SQLSTATE the handler raised (57014: it ran out of time)';
comment on column public.sms_handler_error.error_context is 'where it was raised (PL/pgSQL''s context lines)';
comment on column public.sms_handler_error.attempts is 'calls that failed: 1, plus one per failed replay';
comment on column public.sms_handler_error.replay_requested_at is 'set by sms_handler_replay(); the worker''s sms_reconcile task calls the handler again and deletes the row once it succeeds';

create index sms_handler_error_replay_idx on public.sms_handler_error (replay_requested_at) where replay_requested_at is not null;

alter table public.sms_inbound_rule enable row level security;
alter table public.sms_handler_error enable row level security;
create policy sms_reader_select on public.sms_inbound_rule for select to sms_reader using (true);
create policy sms_reader_select on public.sms_handler_error for select to sms_reader using (true);
create policy sms_worker_all on public.sms_handler_error for all to sms_worker using (true) with check (true);
grant select on public.sms_inbound_rule, public.sms_handler_error to sms_reader;
grant select, insert, update, delete on public.sms_handler_error to sms_worker;

alter table public.sms_settings
  add column auto_reply_limit integer not null default 10
    constraint sms_settings_auto_reply_limit_check check (auto_reply_limit >= 0),
  add column auto_reply_window interval not null default interval '1 hour'
    constraint sms_settings_auto_reply_window_check check (auto_reply_window >= interval '1 second' and auto_reply_window <= interval '30 days');

comment on column public.sms_settings.auto_reply_limit is
  'replies sent from an owner''s reply handlers to one number within auto_reply_window; more are stored rejected (REPLY_LOOP), never sent: what stops two auto-responders answering each other';
comment on column public.sms_settings.auto_reply_window is
  'the window of auto_reply_limit';

-- The key that signs the context a handler runs in (sms_private.reply_context): which rule, which
-- SMS, whose. A handler can read that context, and change it like any setting, but cannot make
-- one for another owner.
create table sms_private.context_key (
  id  boolean primary key default true check (id),
  key bytea not null
);
alter table sms_private.context_key enable row level security;
insert into sms_private.context_key (key)
select pg_catalog.uuid_send(pg_catalog.gen_random_uuid()) || pg_catalog.uuid_send(pg_catalog.gen_random_uuid())
    || pg_catalog.uuid_send(pg_catalog.gen_random_uuid());

comment on table sms_private.context_key is
  'sms-outbox: the random key that signs a reply handler''s context (sms_private.reply_context), so a handler cannot pose as another owner';
