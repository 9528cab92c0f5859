-- Kannel's receipt table for dlr-storage = pgsql (the columns of its user guide), in the
-- database the driver creates for the run. Kannel finds an entry by smsc and ts (the SMSC's
-- message id): the index keeps that lookup from scanning the table, as an operator would add.
create table dlr (
  smsc varchar(48),
  ts varchar(48),
  destination varchar(48),
  source varchar(48),
  service varchar(48),
  url varchar(255),
  mask int,
  status int,
  boxc varchar(48)
);
create index dlr_smsc_ts on dlr (smsc, ts);
