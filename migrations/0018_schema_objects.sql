-- sms-outbox 0018: the record of the installed functions and views.
--
-- Since this release every function, view and trigger function lives in one file of sql/, which
-- holds its current definition (ARCHITECTURE.md, "Where the SQL lives"). `sms-outbox migrate`
-- applies those files after the numbered migrations: each file whose checksum differs from the
-- one recorded here, and every file after a run that applied a numbered migration (a migration
-- may drop or change what a file's object depends on). A file that is no longer in sql/ loses its
-- record (the numbered migration that drops its object goes with it). The worker refuses to
-- start while a file differs from its record: the database's functions would not be its own.

create table public.sms_schema_objects (
  file       text primary key,
  checksum   text not null,
  applied_at timestamptz not null default now()
);

comment on table public.sms_schema_objects is
  'sms-outbox: each file of sql/ (a function, its triggers, or a view) installed by sms-outbox migrate, with the SHA-256 of the file as written';
comment on column public.sms_schema_objects.file is 'the path under sql/, e.g. functions/public.sms_send.sql';

alter table public.sms_schema_objects enable row level security;

-- The worker checks at start that the database's functions are those of its code.
create policy sms_worker_select on public.sms_schema_objects for select to sms_worker using (true);
grant select on public.sms_schema_objects to sms_worker;
