-- sms-outbox 0010: a private schema for the internals, and role names of this database's own.
--
-- 1. Schema sms_private holds what only the sms_ functions call. Nobody but its owner (the
--    role that runs the migrations) may create objects in it, so no other role can add an
--    overload that makes an internal call ambiguous (42725) or resolve to its own code. In
--    schema public that protection does not exist: PostgreSQL 13 and 14 let every role create
--    there, and an overload with a defaulted extra argument makes even a call with the exact
--    argument types ambiguous. The internals of 0002 moved here (with the rules this release
--    added: sql/functions/sms_private.*.sql); the public copies go in 0011.
--
-- 2. Roles are server-wide, so two databases on one server that both use the default names
--    share them: a role granted sms_sender for one can send in the other. SMS_ROLE_PREFIX
--    (read by `sms-outbox migrate`, default sms_) names a database's roles <prefix>sender,
--    <prefix>reader and <prefix>worker. The files in migrations/ write the default names;
--    `sms-outbox migrate` (src/db/migrate.ts) and the Supabase CLI migration generator
--    (scripts/gen-supabase-migration.ts) replace the three words sms_sender, sms_reader and
--    sms_worker with the configured names before running a file (the recorded checksum is
--    that of the file as written); so do they with the files of sql/. This file records the
--    names in sms_private.roles, and every function that grants or checks a role reads them
--    there.
--    sms_private.switch_role_prefix moves an installed database to other names
--    (`sms-outbox migrate --switch-role-prefix`).

create schema sms_private;
revoke all on schema sms_private from public;

comment on schema sms_private is
  'sms-outbox internals: called only by the sms_ functions in public; no grants to anyone';


-- The names of this database's three roles (one row). Written by the substitution described
-- above; changed only by sms_private.switch_role_prefix.
create table sms_private.roles (
  id     boolean primary key default true check (id),
  sender text not null,
  reader text not null,
  worker text not null
);
alter table sms_private.roles enable row level security;
insert into sms_private.roles (sender, reader, worker) values ('sms_sender', 'sms_reader', 'sms_worker');

comment on table sms_private.roles is
  'sms-outbox: the names of this database''s sender, reader and worker roles (SMS_ROLE_PREFIX at install; sms_private.switch_role_prefix changes them)';
