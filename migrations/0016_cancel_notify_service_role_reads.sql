-- sms-outbox 0016: two fixes of the surface.
--
-- 1. sms_cancel announces `cancelled` on channel sms_status, like every other move to a final
--    status: an app waiting on LISTEN for its message's end heard nothing of a cancel.
-- 2. Supabase: the service role may read sms_outbox, sms_inbox and sms_stats over the REST API
--    when the operator switches it on with sms_allow_service_role_read(true). A plain
--    `grant select ... to service_role` did not last: every migration strips the grants the
--    sms_ objects carry for roles other than ours (Supabase's default privileges hand everything
--    in public to anon, authenticated and service_role), and a grant made by hand looks the same.
--    The switch is kept in sms_settings, and sms_grant_supabase_roles(), which runs after every
--    strip and every `sms-outbox migrate`, grants or revokes accordingly.
--
-- sms_cancel, sms_grant_supabase_roles and sms_allow_service_role_read live in sql/functions/;
-- the setting is here.


-- The service role's table reads on Supabase --------------------------------------------------

alter table public.sms_settings
  add column service_role_reads_tables boolean not null default false;

comment on column public.sms_settings.service_role_reads_tables is
  'Supabase: service_role may SELECT sms_outbox, sms_inbox and sms_stats (REST API); set by sms_allow_service_role_read(), kept across migrations';
