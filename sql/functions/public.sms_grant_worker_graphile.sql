-- sms_grant_worker_graphile: Graphile Worker's schema is installed after ours, so the worker
-- role's rights on it are granted by this function, which `sms-outbox migrate` calls after
-- installing it (and again on every run, so tables added by a Graphile upgrade are covered).
-- Graphile enables row level security on its tables without policies (only their owner may use
-- them), so the worker role (the one recorded in sms_private.roles) also gets a policy allowing
-- it every row; a policy of an earlier worker role (before sms_private.switch_role_prefix) is
-- pointed at the current one.
create or replace function public.sms_grant_worker_graphile() returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  t regclass;
  w text;
begin
  if to_regnamespace('graphile_worker') is null then
    raise exception 'schema graphile_worker does not exist; sms-outbox migrate installs it before calling sms_grant_worker_graphile()'
      using errcode = '3F000';
  end if;
  select r.worker into w from sms_private.roles r;
  execute format('grant usage on schema graphile_worker to %I', w);
  execute format('grant all on all tables in schema graphile_worker to %I', w);
  execute format('grant all on all sequences in schema graphile_worker to %I', w);
  execute format('grant all on all routines in schema graphile_worker to %I', w);
  for t in
    select c.oid::regclass
      from pg_class c
     where c.relnamespace = 'graphile_worker'::regnamespace
       and c.relkind in ('r', 'p')
       and c.relrowsecurity
  loop
    if not exists (select from pg_policy p where p.polrelid = t and p.polname = 'sms_worker_all') then
      execute format('create policy sms_worker_all on %s for all to %I using (true) with check (true)', t, w);
    elsif not exists (select from pg_policy p where p.polrelid = t and p.polname = 'sms_worker_all'
                                              and p.polroles = array[to_regrole(w)::oid]) then
      execute format('alter policy sms_worker_all on %s to %I', t, w);
    end if;
  end loop;
end
$$;

comment on function public.sms_grant_worker_graphile() is
  'sms-outbox: grants sms_worker what Graphile Worker needs on schema graphile_worker; called by sms-outbox migrate';

-- For the owner of the schema alone.
revoke all on function public.sms_grant_worker_graphile() from public, sms_sender, sms_reader, sms_worker;
