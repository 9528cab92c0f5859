-- sms-outbox 0003: settings sms_send reads inside the app's transaction, and the worker's
-- wake-up switch. Both are single-row tables.

create table public.sms_settings (
  id               boolean primary key default true check (id),
  default_sender   text,
  default_validity interval not null default '24 hours'
                   check (default_validity >= interval '1 minute'),
  max_segments     integer not null default 10 check (max_segments between 1 and 255),
  max_attempts     integer not null default 8 check (max_attempts between 1 and 1000),
  updated_at       timestamptz not null default now()
);

comment on table public.sms_settings is
  'sms-outbox settings (one row). Change with UPDATE, e.g. update sms_settings set default_sender = ''MyBrand''; sms-outbox migrate also writes SMS_DEFAULT_SENDER, SMS_DEFAULT_VALIDITY and SMS_MAX_SEGMENTS here when they are set.';
comment on column public.sms_settings.default_sender is
  'sender used when sms_send gets none: 1-11 GSM characters or up to 15 digits; NULL = every sms_send must pass sender';
comment on column public.sms_settings.default_validity is
  'how long after send_at an unsent message expires when sms_send gets no expires_at';
comment on column public.sms_settings.max_segments is
  'sms_send rejects a body that needs more parts (MTS Exolve accepts at most 10)';
comment on column public.sms_settings.max_attempts is
  'submit attempts before a message that keeps failing transiently is marked failed';

-- The default sender is checked (and a numeric one normalised) when it is set: the trigger
-- sms_settings_check (sql/functions/public.sms_settings_check.sql).
insert into public.sms_settings default values;


-- The wake-up switch (see sms_send). While armed_until is in the future, every enqueue NOTIFYs
-- channel sms_outbox_wakeup at commit. An idle worker keeps it armed (a lease it renews); a
-- draining worker clears it, so a busy worker costs an enqueue one single-row read and no NOTIFY
-- (which would serialise commits); it re-arms when it runs out of work and re-checks the queue.
-- A lease rather than a flag: when no worker runs (crashed, stopped), it lapses within a
-- minute and apps stop paying for NOTIFYs nobody hears.
create table public.sms_wakeup (
  id          boolean primary key default true check (id),
  armed_until timestamptz
);

comment on table public.sms_wakeup is
  'sms-outbox wake-up switch (one row): while armed_until > now(), sms_send NOTIFYs sms_outbox_wakeup; idle workers renew it, a draining worker clears it';

insert into public.sms_wakeup default values;
