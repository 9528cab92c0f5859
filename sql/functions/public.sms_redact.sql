-- sms_redact: message bodies do not outlive their use. Bodies often hold one-time codes, and the
-- purge deletes whole rows only after SMS_RETENTION_DAYS (30 by default) because operators want
-- the rest of the row (who, when, delivered or not) for that long. sms_settings.redact_after
-- blanks the body of a finished message that long after it finished, keeping what answers later
-- questions without the text: a keyed hash (sms_private.body_hash: was it this exact text?), its
-- length and (already stored) its segment count. sms_settings.inbox_redact_after does the same
-- for incoming SMS (and drops their payload bytes). Both are off (NULL) until set.
--
-- Redacts up to `batch` messages and up to `batch` incoming SMS that are due, oldest first,
-- skipping rows another transaction holds; returns how many of each. The caller repeats while
-- either count is `batch`. Receipts carry the first 20 characters of the text in their `text:`
-- field (sms_receipt.text keeps the receipts that arrived before their message was known):
-- those of a redacted message, and unmatched ones older than redact_after, lose it too.
-- For the worker role (the sms_redact task, src/tasks/redact.ts, every minute) and the owner.
create or replace function public.sms_redact(batch integer default 1000, out messages integer, out inbox integer)
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

revoke all on function public.sms_redact(integer) from public, sms_sender, sms_reader, sms_worker;
grant execute on function public.sms_redact(integer) to sms_worker;
