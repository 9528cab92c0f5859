-- sms_private.part_hash: what sms_inbox_set keeps of a part of an assembled incoming SMS, to know
-- the part again if the SMSC delivers it a second time: sha256 over the database's redaction key
-- (sms_private.redaction_key, readable by the owner of the schema only), the data_coding and the
-- bytes. Keyed, as sms_private.body_hash is, so the hash of a short text cannot be tried out.
create or replace function sms_private.part_hash(data_coding integer, payload bytea) returns bytea
language sql stable strict parallel safe
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.sha256(k.key operator(pg_catalog.||) pg_catalog.int4send($1) operator(pg_catalog.||) $2)
    from sms_private.redaction_key k
$$;

comment on function sms_private.part_hash(integer, bytea) is
  'sms-outbox internal: the keyed hash sms_inbox_set keeps of a part of an assembled incoming SMS';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.part_hash(integer, bytea) from public, sms_sender, sms_reader, sms_worker;
