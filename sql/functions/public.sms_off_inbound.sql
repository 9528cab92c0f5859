-- sms_off_inbound: removes one of the caller's reply rules (any rule, for the owner of the
-- schema) and its gateway function; true when it did, false for an unknown id or another's
-- (exactly as sms_cancel answers). Its failed calls in sms_handler_error go with it. An SMS
-- stored before the removal and not yet handled is not handled by it any more.
create or replace function public.sms_off_inbound(id bigint) returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_owner text;
  v_id bigint;
begin
  if current_setting('role') = (select x.worker from sms_private.roles x) then
    raise exception 'the worker role, and a reply handler, cannot remove reply handlers'
      using errcode = '42501';
  end if;
  if sms_off_inbound.id is null then
    raise exception 'id must not be null'
      using errcode = '22004', column = 'id';
  end if;
  v_owner := sms_private.caller_owner();
  delete from public.sms_inbound_rule r
   where r.id = sms_off_inbound.id
     and (r.owner = v_owner or sms_private.caller_is_admin())
  returning r.id into v_id;
  if v_id is null then
    return false;
  end if;
  begin
    execute format('drop function if exists sms_handler.%I(public.sms_inbox, uuid)', 'rule_' || v_id);
  exception when insufficient_privilege then
    raise exception 'the gateway function of rule % belongs to a role %, the owner of the sms_ objects, is no longer a member of', v_id, current_user
      using errcode = '42501',
            hint = format('grant that role to %I, or drop the function as a superuser: drop function sms_handler.rule_%s(sms_inbox, uuid);', current_user, v_id);
  end;
  return true;
end
$$;

comment on function public.sms_off_inbound(bigint) is
  'sms-outbox: removes one of the caller''s reply rules; true when it did';

revoke all on function public.sms_off_inbound(bigint) from public, sms_sender, sms_reader, sms_worker;
grant execute on function public.sms_off_inbound(bigint) to sms_sender;
