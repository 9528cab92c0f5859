-- sms_private.view_as_invoker(view): make a view of the interface run with its caller's rights on
-- PostgreSQL 15+ (security_invoker), so that the table privileges and policies decide who sees what
-- through it too, and Supabase's security advisor has no "security definer view" to report. Earlier
-- versions have no such option and keep the view's owner rights. Each file of sql/views/ calls it
-- right after its create or replace view, on every apply: create or replace resets a view's options.
create or replace function sms_private.view_as_invoker(v regclass) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
  if pg_catalog.current_setting('server_version_num')::integer >= 150000 then
    execute pg_catalog.format('alter view %s set (security_invoker = true)', v);
  end if;
end
$$;

comment on function sms_private.view_as_invoker(regclass) is
  'sms-outbox internal: run a view with its caller''s rights (security_invoker) on PostgreSQL 15+; called by each view''s file on every apply';

revoke all on function sms_private.view_as_invoker(regclass) from public, sms_sender, sms_reader, sms_worker;
