-- sms-outbox 0009: nothing the SMSC sends can stall the inbound path.
--
-- Incoming bytes are untrusted. A Latin-1 or UCS-2 text can decode to U+0000, which a Postgres
-- `text` refuses (22021). The worker now stores such text with U+FFFD in place of each character
-- Postgres cannot hold, keeps the user data exactly as received beside it, and says that it did.
-- Anything else Postgres refuses for one row (a constraint, a trigger of the operator's raising
-- for one message) is split out of its batch and parked in sms_inbound_parked with its error;
-- the rest of the batch commits, and the parked PDU is acknowledged, since it is durable here.
-- sms_inbound_replay() sends parked rows through the worker again once the cause is fixed
-- (sql/functions/public.sms_inbound_replay.sql).


-- 1. What sms_inbox keeps of the bytes behind the text --------------------------------------

alter table public.sms_inbox
  add column payload       bytea,
  add column body_replaced boolean not null default false;

comment on column public.sms_inbox.payload is
  'the user data as received, without the UDH (a concatenated message: its parts joined in order); null for rows stored before 0009';
comment on column public.sms_inbox.body_replaced is
  'true when body has U+FFFD in place of characters Postgres text cannot hold (U+0000, unpaired UTF-16 surrogates): read payload for the exact bytes';


-- 2. Parked inbound traffic ------------------------------------------------------------------

create table public.sms_inbound_parked (
  id                  bigint generated always as identity primary key,
  parked_at           timestamptz not null default now(),
  -- receipt / mo: one deliver_sm or data_sm, kept whole in pdu.
  -- mo_set: a concatenated incoming SMS whose parts were waiting in sms_inbox_part when its
  -- assembly was refused; the parts are kept in part_seqs / part_payloads.
  kind                text not null check (kind in ('receipt', 'mo', 'mo_set')),
  command_id          integer,
  pdu                 bytea,
  sender              text,
  recipient           text,
  concat_ref          integer,
  concat_total        smallint,
  data_coding         smallint,
  part_seqs           smallint[],
  part_payloads       bytea[],
  error_code          text not null,
  error_message       text not null,
  attempts            integer not null default 1 check (attempts >= 1),
  last_attempt_at     timestamptz not null default now(),
  replay_requested_at timestamptz,
  constraint sms_inbound_parked_shape_check check (
    case kind
      when 'mo_set' then pdu is null and part_seqs is not null and part_payloads is not null
                         and concat_ref is not null and concat_total is not null and data_coding is not null
      else pdu is not null and command_id is not null
    end
  )
);

comment on table public.sms_inbound_parked is
  'sms-outbox: incoming PDUs (receipts, incoming SMS) Postgres refused to store, with the error; acknowledged to the SMSC. Replay with sms_inbound_replay(id) once the cause is fixed.';
comment on column public.sms_inbound_parked.pdu is 'the whole deliver_sm / data_sm as received, header included';
comment on column public.sms_inbound_parked.error_code is 'the SQLSTATE of the refusal (or the error name for one raised before Postgres)';
comment on column public.sms_inbound_parked.attempts is 'how often storing it failed: 1 when parked, plus one per failed replay';
comment on column public.sms_inbound_parked.replay_requested_at is 'set by sms_inbound_replay(); the worker''s sms_reconcile task replays the row and deletes it once stored';

create index sms_inbound_parked_replay_idx on public.sms_inbound_parked (replay_requested_at)
  where replay_requested_at is not null;

alter table public.sms_inbound_parked enable row level security;
create policy sms_worker_all on public.sms_inbound_parked for all to sms_worker using (true) with check (true);
grant select, insert, update, delete on public.sms_inbound_parked to sms_worker;
