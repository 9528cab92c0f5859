-- sms-outbox 0013: message bodies do not outlive their use.
--
-- Bodies often hold one-time codes, and the purge deletes whole rows only after
-- SMS_RETENTION_DAYS (30 by default) because operators want the rest of the row (who, when,
-- delivered or not) for that long. sms_settings.redact_after blanks the body of a finished
-- message that long after it finished, keeping what answers later questions without the text:
-- a keyed hash (was it this exact text?), its length and (already stored) its segment count.
-- sms_settings.inbox_redact_after does the same for incoming SMS (and drops their payload
-- bytes). Both are off (NULL) until set. The sms_redact task (src/tasks/redact.ts) runs
-- public.sms_redact() every minute through Graphile Worker.
--
-- The hash is keyed: sha256 over a random key of this database (sms_private.redaction_key,
-- readable by the owner of the schema only) and the text. A plain hash of "Your code: 4821"
-- gives the code back to anyone who tries the 10,000 candidates; with the key, only the owner
-- can compute one (select sms_private.body_hash('...')) and compare.


-- 1. Settings --------------------------------------------------------------------------------

alter table public.sms_settings
  add column redact_after interval
    check (redact_after is null or redact_after >= interval '0'),
  add column inbox_redact_after interval
    check (inbox_redact_after is null or inbox_redact_after >= interval '0');

comment on column public.sms_settings.redact_after is
  'blank the body of a message this long after it finished (keeping body_hash, body_length and segments); NULL: never';
comment on column public.sms_settings.inbox_redact_after is
  'blank the body and payload of an incoming SMS this long after it was received (keeping body_hash and body_length); NULL: never';


-- 2. What a redacted row keeps ----------------------------------------------------------------

alter table public.sms_outbox
  add column body_hash   bytea,
  add column body_length integer,
  add column redacted_at timestamptz;

comment on column public.sms_outbox.body_hash is
  'after redaction: sha256 of this database''s redaction key and the body sent (compare with sms_private.body_hash(text), as the owner)';
comment on column public.sms_outbox.body_length is 'after redaction: the body''s length in characters';
comment on column public.sms_outbox.redacted_at is 'when the body was blanked (sms_settings.redact_after); NULL: the body is there';

alter table public.sms_inbox
  add column body_hash   bytea,
  add column body_length integer,
  add column redacted_at timestamptz;

comment on column public.sms_inbox.body_hash is
  'after redaction: sha256 of this database''s redaction key and the body (compare with sms_private.body_hash(text), as the owner)';
comment on column public.sms_inbox.body_length is 'after redaction: the body''s length in characters';
comment on column public.sms_inbox.redacted_at is 'when the body and payload were blanked (sms_settings.inbox_redact_after); NULL: they are there';

-- The sweep reads the oldest unredacted finished rows. A fresh row (done_at NULL) is not in this
-- index, so sms_send does not pay for it; a message enters it once, when it finishes, and leaves
-- it when redacted.
create index sms_outbox_redact_idx on public.sms_outbox (done_at)
  where done_at is not null and redacted_at is null;

create index sms_inbox_redact_idx on public.sms_inbox (received_at)
  where redacted_at is null;


-- 3. The key of the hash ---------------------------------------------------------------------------

create table sms_private.redaction_key (
  id  boolean primary key default true check (id),
  key bytea not null
);
alter table sms_private.redaction_key enable row level security;

-- 32 bytes from the server's strong random source (gen_random_uuid, core since PostgreSQL 13:
-- 122 random bits per uuid).
insert into sms_private.redaction_key (key)
select pg_catalog.uuid_send(pg_catalog.gen_random_uuid()) || pg_catalog.uuid_send(pg_catalog.gen_random_uuid())
    || pg_catalog.uuid_send(pg_catalog.gen_random_uuid());

comment on table sms_private.redaction_key is
  'sms-outbox: the random key of this database''s body hashes (body_hash); changing it makes the stored hashes uncomparable';

-- sms_private.body_hash and the sweep, public.sms_redact: in sql/functions/.
