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


-- 3. The key and the hash ------------------------------------------------------------------------

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

create function sms_private.body_hash(body text) returns bytea
language sql stable strict parallel safe
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.sha256(k.key operator(pg_catalog.||) pg_catalog.convert_to($1, 'UTF8'))
    from sms_private.redaction_key k
$$;

comment on function sms_private.body_hash(text) is
  'sms-outbox: the keyed hash redaction keeps of a body (sha256 of the database''s redaction key and the UTF-8 text)';


-- 4. The sweep -------------------------------------------------------------------------------------
--
-- Redacts up to `batch` messages and up to `batch` incoming SMS that are due, oldest first,
-- skipping rows another transaction holds; returns how many of each. The caller repeats while
-- either count is `batch`. Receipts carry the first 20 characters of the text in their `text:`
-- field (sms_receipt.text keeps the receipts that arrived before their message was known):
-- those of a redacted message, and unmatched ones older than redact_after, lose it too.
-- For the worker role (the sms_redact task) and the owner.
create function public.sms_redact(batch integer default 1000, out messages integer, out inbox integer)
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  cfg record;
  redacted uuid[];
begin
  if batch is null or batch < 1 then
    raise exception 'batch must be a positive number of rows, got %', coalesce(batch::text, 'NULL')
      using errcode = '22023', column = 'batch';
  end if;
  select s.redact_after, s.inbox_redact_after into cfg from public.sms_settings s;
  messages := 0;
  inbox := 0;

  if cfg.redact_after is not null then
    with due as (
      select o.id
        from public.sms_outbox o
       where o.done_at is not null and o.redacted_at is null
         and o.done_at < now() - cfg.redact_after
       order by o.done_at
       limit batch
         for update skip locked
    ), blanked as (
      update public.sms_outbox o
         set body_hash = sms_private.body_hash(o.body),
             body_length = char_length(o.body),
             body = '',
             redacted_at = now()
        from due
       where o.id = due.id
      returning o.id
    )
    select coalesce(array_agg(b.id), '{}') into redacted from blanked b;
    messages := cardinality(redacted);

    -- Through sms_receipt_outbox_id_idx, and through the (small) partial index of unmatched ones.
    update public.sms_receipt r
       set text = regexp_replace(r.text, '(text:).*$', '\1', 'i')
     where r.outbox_id = any (redacted)
       and r.text ~* 'text:.';
    update public.sms_receipt r
       set text = regexp_replace(r.text, '(text:).*$', '\1', 'i')
     where r.matched_at is null
       and r.received_at < now() - cfg.redact_after
       and r.text ~* 'text:.';
  end if;

  if cfg.inbox_redact_after is not null then
    with due as (
      select i.id
        from public.sms_inbox i
       where i.redacted_at is null
         and i.received_at < now() - cfg.inbox_redact_after
       order by i.received_at
       limit batch
         for update skip locked
    )
    update public.sms_inbox i
       set body_hash = sms_private.body_hash(i.body),
           body_length = char_length(i.body),
           body = '',
           payload = null,
           redacted_at = now()
      from due
     where i.id = due.id;
    get diagnostics inbox = row_count;
  end if;
end
$$;

comment on function public.sms_redact(integer) is
  'sms-outbox: blanks the bodies of finished messages and incoming SMS past sms_settings.redact_after / inbox_redact_after (up to batch of each); the sms_redact task runs it every minute';

select public.sms_strip_inherited_grants();
grant execute on function public.sms_redact(integer) to sms_worker;
