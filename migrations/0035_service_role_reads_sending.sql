-- 0035: Supabase's service_role, when it may read the tables (sms_allow_service_role_read), may
-- read sms_sending too: since migration 0034 a message being sent keeps `queued` in its
-- sms_outbox row, and sms_sending is how a reader of that table tells the two apart. The grant
-- itself is sms_grant_supabase_roles's (sql/functions), which every migrate runs; this names it in
-- the switch's column.
comment on column public.sms_settings.service_role_reads_tables is
  'Supabase: service_role may SELECT sms_outbox, sms_inbox, sms_stats and sms_sending (REST API); set by sms_allow_service_role_read(), kept across migrations';
