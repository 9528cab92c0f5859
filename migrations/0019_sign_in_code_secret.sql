-- sms-outbox 0019: sign-in codes kept from readers (issue 19).
--
-- A code queued by sms_auth_send_sms_hook was in sms_outbox.body, which the reader role
-- (dashboards, support staff) and service_role after sms_allow_service_role_read(true) read: a
-- live code there is a phone login any of them can take over. The hook now keeps the text in
-- sms_outbox_secret, which only the worker role reads (its claim, src/db/outbox.ts), and leaves
-- sms_outbox.body blanked the way redaction leaves a body (body '' with body_hash and
-- body_length). When the message leaves the queue, sms_private.outbox_secret_release deletes the
-- text and marks the row redacted. Why a table of its own rather than column privileges or a
-- view: the reader keeps `select * from sms_outbox` exactly as it is for every other body and
-- column (a column grant would break it), sms_outbox stays the table the contract names, and the
-- cost is one primary-key read in the claim, for sign-in messages only.

create table public.sms_outbox_secret (
  outbox_id uuid primary key references public.sms_outbox (id) on delete cascade,
  body      text not null
);

comment on table public.sms_outbox_secret is
  'sms-outbox: the text of a message only the worker may read (a sign-in code of sms_auth_send_sms_hook) while it is queued or sending; sms_outbox.body holds it blanked. Deleted when the message leaves the queue';

alter table public.sms_outbox_secret enable row level security;
create policy sms_worker_select on public.sms_outbox_secret for select to sms_worker using (true);
grant select on public.sms_outbox_secret to sms_worker;

comment on column public.sms_outbox.body_length is
  'the body''s length in characters when the body is not in this column: redacted (redacted_at), or a sign-in code held in sms_outbox_secret until it leaves the queue (redacted_at still NULL)';

-- Codes queued before this release move to sms_outbox_secret; those of messages past the queue
-- are blanked now, with their receipts' copy of the first characters (as sms_redact does). The
-- keyed hash as sms_private.body_hash computes it, in built-in SQL (this step runs before sql/).
insert into public.sms_outbox_secret (outbox_id, body)
select o.id, o.body from public.sms_outbox o
 where (o.metadata ->> 'via') = 'supabase_auth_hook' and o.status in ('queued', 'sending')
   and o.body_length is null and o.redacted_at is null;
with blanked as (
  update public.sms_outbox o
     set body = '',
         body_hash = (select pg_catalog.sha256(k.key || pg_catalog.convert_to(o.body, 'UTF8')) from sms_private.redaction_key k),
         body_length = pg_catalog.char_length(o.body),
         redacted_at = case when o.status in ('queued', 'sending') then null else now() end
   where (o.metadata ->> 'via') = 'supabase_auth_hook' and o.body_length is null and o.redacted_at is null
  returning o.id, o.redacted_at
)
update public.sms_receipt r
   set text = pg_catalog.regexp_replace(r.text, '(text:).*$', '\1', 'i')
  from blanked b
 where r.outbox_id = b.id and b.redacted_at is not null and r.text ~* 'text:.';
