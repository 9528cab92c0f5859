-- sms-outbox 0027: the sign-in hook defends itself against SMS pumping, from conversion (issue 26).
--
-- SMS pumping: bots ask for sign-in codes to number ranges whose traffic pays someone (premium
-- or foreign ranges), and the sender pays. The hook's allow-list of countries, per-phone window
-- and global per-minute ceiling let a slow attack spread over many numbers of an allowed country
-- through. What tells a real user from a pumped number sits in this database: a code sent to a
-- person is followed by that phone's confirmation (Supabase Auth sets auth.users.
-- phone_confirmed_at when the code is verified; other apps report it with
-- sms_verification_confirmed(phone)); a pumped number never confirms.
--
-- So the hook counts, per number range (the country code, and the first prefix_length digits of
-- the international number), the codes it sent and those confirmed within their validity, in
-- one-minute buckets updated as codes go out and as phones confirm: deciding reads at most a
-- window's worth of buckets of two ranges, never the history of codes. A range whose
-- conversion falls below min_conversion once enough codes settled is blocked for a cool-down
-- (doubling on repeat), then kept on probation (throttled) until its codes convert again; a
-- range whose volume jumps spike_factor times above its own recent rate is throttled. Every
-- decision is a row of sms_pumping_decision (read through the view sms_pumping_decisions); an
-- owner pins a range open or closed with sms_pumping_pin(range, pin).
--
-- The functions live in sql/functions (sms_private.pumping_*.sql, public.sms_pumping_pin.sql,
-- public.sms_verification_confirmed.sql) and the view in sql/views.


-- 1. Settings -------------------------------------------------------------------------------

create table public.sms_pumping_settings (
  id                  boolean primary key default true check (id),
  -- false: nothing is counted or refused (pins included).
  enabled             boolean not null default true,
  -- A prefix range is the first prefix_length digits of the international number (country code
  -- included): 8 makes +7 999 123 45 67 a member of 79991234.
  prefix_length       integer not null default 8 check (prefix_length between 4 and 15),
  -- Whole countries are judged too (an attack spread over many prefixes of one country).
  judge_countries     boolean not null default true,
  -- Conversion is the share of settled codes (sent, and past their validity or confirmed) of
  -- the last conversion_window that were confirmed within their validity.
  conversion_window   interval not null default '1 hour'
                      check (conversion_window between interval '10 minutes' and interval '7 days'),
  min_codes           integer not null default 20 check (min_codes >= 1),
  -- A whole country is judged on more: a decision there reaches many more people.
  country_min_codes   integer not null default 50 check (country_min_codes >= 1),
  min_conversion      real not null default 0.2 check (min_conversion between 0 and 1),
  -- A range at or above good_conversion (with a confirmation) is never throttled for volume,
  -- and is spared its country's decision.
  good_conversion     real not null default 0.5 check (good_conversion between 0 and 1),
  spike_window        interval not null default '5 minutes'
                      check (spike_window between interval '1 minute' and interval '1 hour'),
  spike_factor        real not null default 10 check (spike_factor >= 1),
  spike_min_codes     integer not null default 20 check (spike_min_codes >= 1),
  -- Codes a range on probation must settle before it is judged again.
  probation_codes     integer not null default 5 check (probation_codes >= 1),
  -- Codes a minute a throttled range may still get.
  throttle_per_minute integer not null default 2 check (throttle_per_minute >= 0),
  cooldown            interval not null default '30 minutes'
                      check (cooldown between interval '1 minute' and interval '7 days'),
  max_cooldown        interval not null default '1 day'
                      check (max_cooldown between interval '1 minute' and interval '30 days'),
  -- What the person signing in sees (Supabase Auth shows the hook's message).
  message             text not null default 'Sign-in by SMS is temporarily unavailable for this phone number. Please try again later or use another way to sign in.'
                      check (char_length(message) between 1 and 500),
  -- Volume spikes are judged once the hook has counted for a conversion_window (before, every
  -- range would look new).
  watching_since      timestamptz not null default now(),
  check (max_cooldown >= cooldown),
  check (good_conversion >= min_conversion)
);

comment on table public.sms_pumping_settings is
  'sms-outbox: how sms_auth_send_sms_hook judges number ranges for SMS pumping (one row); change with UPDATE';
comment on column public.sms_pumping_settings.prefix_length is 'digits of the international number (country code included) that make a prefix range';
comment on column public.sms_pumping_settings.min_codes is 'settled codes in conversion_window before a range''s conversion is judged';
comment on column public.sms_pumping_settings.country_min_codes is 'settled codes in conversion_window before a whole country''s conversion is judged';
comment on column public.sms_pumping_settings.min_conversion is 'below this share of confirmed codes (with min_codes settled) a range is blocked for cooldown';
comment on column public.sms_pumping_settings.good_conversion is 'at or above this share, with a confirmation, a range is never throttled for volume and is spared its country''s decision';
comment on column public.sms_pumping_settings.spike_factor is 'a range sending this many times its own recent rate (and at least spike_min_codes in spike_window) is throttled';
comment on column public.sms_pumping_settings.throttle_per_minute is 'codes a minute a throttled range (a volume spike, or probation after a block) may still get';
comment on column public.sms_pumping_settings.cooldown is 'how long a block lasts the first time (doubling each time again, up to max_cooldown), and how long a throttle or a probation lasts';
comment on column public.sms_pumping_settings.message is 'what the person signing in is shown when the hook refuses a code for its range';
comment on column public.sms_pumping_settings.watching_since is 'volume spikes are judged from conversion_window after this';

insert into public.sms_pumping_settings default values;


-- 2. The counters ------------------------------------------------------------------------------

-- Codes sent and confirmed per range per minute. range: the digits of the range (a country code
-- has 1-3, a prefix 4 or more, so the two never collide); bucket: the minute the codes were sent
-- (a confirmation counts in the minute of its code). Rows older than the longest window go, a
-- few with every code sent.
create table sms_private.pumping_bucket (
  range     text not null,
  bucket    timestamptz not null,
  sent      integer not null default 0,
  confirmed integer not null default 0,
  primary key (range, bucket)
);
alter table sms_private.pumping_bucket enable row level security;
create index pumping_bucket_bucket_idx on sms_private.pumping_bucket (bucket);

comment on table sms_private.pumping_bucket is
  'sms-outbox: sign-in codes sent and confirmed per number range per minute (the pumping defence''s counters)';

-- The decision in force per range: blocked until blocked_until, then throttled (on probation, or
-- for a spike) until throttled_until; judged on the codes since judged_since while on probation.
-- pin: an owner's 'open' or 'closed', above any decision. Only ranges with a decision or a pin
-- have a row.
create table sms_private.pumping_range (
  range           text primary key,
  blocked_until   timestamptz,
  throttled_until timestamptz,
  judged_since    timestamptz,
  strikes         integer not null default 0,
  pin             text check (pin in ('open', 'closed')),
  updated_at      timestamptz not null default now()
);
alter table sms_private.pumping_range enable row level security;

comment on table sms_private.pumping_range is
  'sms-outbox: the pumping decision in force per number range, and owners'' pins';


-- 3. The decisions -------------------------------------------------------------------------------

create table public.sms_pumping_decision (
  id         bigint generated always as identity primary key,
  decided_at timestamptz not null,
  range      text not null,
  -- 'country' or 'prefix'
  level      text not null check (level in ('country', 'prefix')),
  -- block, throttle, release, pin_open, pin_closed, unpin
  action     text not null check (action in ('block', 'throttle', 'release', 'pin_open', 'pin_closed', 'unpin')),
  -- low_conversion, volume_spike, converting, owner
  reason     text not null check (reason in ('low_conversion', 'volume_spike', 'converting', 'owner')),
  -- when a block or throttle ends (NULL for the others)
  until      timestamptz,
  -- the figures the decision was taken on (sent, settled, confirmed, conversion, spike_codes,
  -- baseline_codes), or the owner's note
  evidence   jsonb not null default '{}'
);

comment on table public.sms_pumping_decision is
  'sms-outbox: every decision of the sign-in hook''s pumping defence (a block, a throttle, a release) and every owner''s pin; read through sms_pumping_decisions';

create index sms_pumping_decision_range_idx on public.sms_pumping_decision (range, decided_at);
create index sms_pumping_decision_decided_at_idx on public.sms_pumping_decision (decided_at);

alter table public.sms_pumping_decision enable row level security;
alter table public.sms_pumping_settings enable row level security;
create policy sms_reader_select on public.sms_pumping_decision for select to sms_reader using (true);
create policy sms_worker_select on public.sms_pumping_decision for select to sms_worker using (true);
create policy sms_reader_select on public.sms_pumping_settings for select to sms_reader using (true);
grant select on public.sms_pumping_decision, public.sms_pumping_settings to sms_reader;
grant select on public.sms_pumping_decision to sms_worker;


-- 4. The codes -----------------------------------------------------------------------------------

-- confirmed_at: when the phone was confirmed within the code's validity (counted once);
-- pumping_range: the prefix range the code was counted in (NULL: not counted, e.g. an MFA code,
-- which Auth does not confirm through phone_confirmed_at), its country follows from it.
alter table public.sms_auth_code add column confirmed_at timestamptz;
alter table public.sms_auth_code add column pumping_range text;
comment on column public.sms_auth_code.confirmed_at is 'when the phone was confirmed within the code''s validity (auth.users.phone_confirmed_at, or sms_verification_confirmed)';
comment on column public.sms_auth_code.pumping_range is 'the prefix range the code was counted in by the pumping defence; NULL when not counted';


-- 5. Refusals ------------------------------------------------------------------------------------

create sequence sms_private.auth_hook_refused_range_blocked;
create sequence sms_private.auth_hook_refused_range_throttled;
