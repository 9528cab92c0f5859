-- sms-outbox 0006: who may do what.
--
--   sms_sender  EXECUTE sms_send, sms_cancel, sms_status, sms_segments; nothing else
--   sms_reader  SELECT sms_outbox, sms_inbox, sms_stats
--   sms_worker  sms_outbox: SELECT, DELETE, and UPDATE of the delivery columns only (rows are
--               created by sms_send alone, which validated what the app supplied);
--               SELECT/INSERT/UPDATE/DELETE on the other sms_ tables except sms_settings,
--               which it may only read; plus Graphile Worker's schema, granted by
--               sms_grant_worker_graphile()
--
-- Apps get no INSERT/UPDATE/DELETE on any table: every write goes through the functions and
-- their validation. Grant a role to an app's login role, e.g. grant sms_sender to my_app;
--
-- The tables' grants are here; a function's or a view's are in its file in sql/, and
-- sms_strip_inherited_grants() (run by `sms-outbox migrate` after those files) takes back every
-- privilege these objects were born with apart from their owner's and our roles' (PUBLIC's
-- default EXECUTE on functions, what ALTER DEFAULT PRIVILEGES handed out: Supabase, for one,
-- grants everything created in public to anon, authenticated and service_role).

-- The reader role.
grant select on public.sms_outbox, public.sms_inbox to sms_reader;

-- The worker role.
grant select, delete on public.sms_outbox to sms_worker;
grant update (status, attempts, next_attempt_at, lease_until, worker_id, submitted_at, done_at,
              message_ids, error_code, error_message, receipt_state, receipt_error, updated_at)
  on public.sms_outbox to sms_worker;
grant select, insert, update, delete on
  public.sms_outbox_part, public.sms_receipt, public.sms_inbox, public.sms_inbox_part, public.sms_wakeup
  to sms_worker;
grant select on public.sms_settings to sms_worker;


-- The roles need USAGE on schema public. PostgreSQL grants it to PUBLIC by default; a hardened
-- database may have revoked that, so grant it where this role is allowed to (it owns the schema,
-- directly or through pg_database_owner).
do $$
begin
  if pg_catalog.pg_has_role(current_user, (select nspowner from pg_catalog.pg_namespace where nspname = 'public'), 'USAGE') then
    grant usage on schema public to sms_sender, sms_reader, sms_worker;
  end if;
end
$$;
