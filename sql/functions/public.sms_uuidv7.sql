-- sms_uuidv7: time-ordered UUIDs (RFC 9562 version 7): 48 bits of Unix milliseconds, then random
-- bits. New rows land at the right edge of the primary-key index instead of at random pages,
-- which keeps inserts cheap and the index compact. PostgreSQL 18 has uuidv7() built in; older
-- servers get the same layout from gen_random_uuid() (core since 13, no extension needed).
-- Plain SQL without SET so the planner can inline it into the column defaults; every name is
-- schema-qualified so no search_path can redirect it.
do $$
begin
  if pg_catalog.current_setting('server_version_num')::integer >= 180000 then
    execute $f$
      create or replace function public.sms_uuidv7() returns uuid
      language sql volatile parallel safe
      as 'select pg_catalog.uuidv7()'
    $f$;
  else
    execute $f$
      create or replace function public.sms_uuidv7() returns uuid
      language sql volatile parallel safe
      as $body$
        select pg_catalog.encode(
                 pg_catalog.set_bit(pg_catalog.set_bit(
                   pg_catalog.overlay(
                     pg_catalog.uuid_send(pg_catalog.gen_random_uuid()),
                     pg_catalog.substr(pg_catalog.int8send(pg_catalog.floor(
                       pg_catalog.date_part('epoch', pg_catalog.clock_timestamp())
                       operator(pg_catalog.*) 1000)::pg_catalog.int8), 3),
                     1, 6),
                   52, 1), 53, 1),
                 'hex')::pg_catalog.uuid
      $body$
    $f$;
  end if;
end
$$;

-- The ids of sms_outbox and sms_inbox. Set here rather than in the migrations that create the
-- tables (0004): a default can only name a function that exists, and the functions are created
-- after the numbered migrations.
alter table public.sms_inbox alter column id set default public.sms_uuidv7();

comment on function public.sms_uuidv7() is
  'sms-outbox: a version-7 (time-ordered) UUID; the default of sms_inbox.id, and sms_outbox.id as sms_private.new_message sets it';

-- The worker role inserts sms_inbox rows, whose default calls it.
revoke all on function public.sms_uuidv7() from public, sms_sender, sms_reader, sms_worker;
grant execute on function public.sms_uuidv7() to sms_worker;
