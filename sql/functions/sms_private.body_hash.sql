-- sms_private.body_hash: the keyed hash redaction keeps of a body (sms_redact). Keyed: sha256 over
-- a random key of this database (sms_private.redaction_key, readable by the owner of the schema
-- only) and the text. A plain hash of "Your code: 4821" gives the code back to anyone who tries
-- the 10,000 candidates; with the key, only the owner can compute one
-- (select sms_private.body_hash('...')) and compare.
create or replace function sms_private.body_hash(body text) returns bytea
language sql stable strict parallel safe
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.sha256(k.key operator(pg_catalog.||) pg_catalog.convert_to($1, 'UTF8'))
    from sms_private.redaction_key k
$$;

comment on function sms_private.body_hash(text) is
  'sms-outbox: the keyed hash redaction keeps of a body (sha256 of the database''s redaction key and the UTF-8 text)';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.body_hash(text) from public, sms_sender, sms_reader, sms_worker;
