/**
 * TypeScript shapes of the tables in migrations/, for kysely. Keep in step with the SQL:
 * test/sql/schema-types.test.ts compares these column lists with information_schema.
 */
import type { ColumnType, Generated } from 'kysely';

/** sms_outbox.status, in the order a message moves (sms_stats' columns, `sms-outbox status`, metrics). */
export const MESSAGE_STATUSES = ['queued', 'sending', 'sent', 'delivered', 'undelivered', 'expired', 'rejected', 'failed', 'cancelled'] as const;

export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

export const FINAL_STATUSES: readonly MessageStatus[] = ['delivered', 'undelivered', 'expired', 'rejected', 'failed', 'cancelled'];

export type Encoding = 'gsm7' | 'ucs2';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null, Date | string | null>;

/**
 * An `interval` as node-postgres returns it (the postgres-interval object); written as text
 * such as '12 hours'.
 */
export interface PgInterval {
  years?: number;
  months?: number;
  days?: number;
  hours?: number;
  minutes?: number;
  seconds?: number;
  milliseconds?: number;
  toPostgres(): string;
  toISO(): string;
}

/**
 * sms_outbox. Rows are created only by sms_send (which validates recipient through metadata and sets the owner);
 * the worker role may update only the delivery columns (status through receipt_error, and
 * updated_at, which nothing maintains automatically).
 */
/**
 * id, owner, created_at, updated_at, status, attempts, replaced_chars, retries and
 * attempts_at_retry have no default (0028): sms-outbox sets them (sms_private.new_message), and an
 * app's INSERT (owner not named) that sets one is refused by the trigger sms_outbox_insert, which
 * also fills them in for the table owner's raw INSERT naming owner.
 */
export interface SmsOutboxTable {
  id: string;
  /**
   * Who enqueued it: the role the session acted as, quoted like an SQL identifier, with
   * `:<JWT sub>` for a request role's user (`authenticated:<user id>`). Set by sms_send and by
   * an app's INSERT alike.
   */
  owner: string;
  created_at: Date;
  updated_at: Date;
  recipient: string;
  sender: string;
  body: string;
  encoding: Encoding;
  segments: number;
  priority: Generated<number>;
  send_at: Timestamp;
  expires_at: Timestamp;
  idempotency_key: string | null;
  metadata: unknown | null;
  status: MessageStatus;
  attempts: number;
  /** When the row is next due: send_at at first, later the retry back-off. */
  next_attempt_at: Timestamp;
  /**
   * The worker that made the last attempt. While a worker holds a message (status shown as
   * `sending`), its lease is a row of sms_private.outbox_lease, not a column here (0034).
   */
  worker_id: string | null;
  submitted_at: NullableTimestamp;
  done_at: NullableTimestamp;
  /** SMSC message ids, one per part, in part order (as the SMSC sent them). */
  message_ids: string[] | null;
  /**
   * A single-part message's SMSC id, normalised, that receipts are matched on (0017); messages
   * of several parts have one sms_outbox_part row per part instead.
   */
  smsc_message_id: string | null;
  /** The incoming SMS this message answers, when a reply handler sent it (0023). */
  reply_to_inbox: string | null;
  error_code: string | null;
  error_message: string | null;
  /** Raw receipt state that decided the status (DELIVRD, UNDELIV, ...). */
  receipt_state: string | null;
  receipt_error: string | null;
  /** Keyed hash, length and time of the redaction that blanked the body (0013); null before. */
  body_hash: Buffer | null;
  body_length: number | null;
  redacted_at: NullableTimestamp;
  /** 'transactional' or 'marketing' (never sent to a recipient in sms_opt_out). */
  category: Generated<MessageCategory>;
  /** Characters smart encoding replaced in the body stored and sent (0: as the app passed it). */
  replaced_chars: number;
  /** How often sms_retry requeued it, and `attempts` at the last time (max_attempts counts after it). */
  retries: number;
  attempts_at_retry: number;
}

export type MessageCategory = 'transactional' | 'marketing';

/** The outcome each sms_retry replaced (0015). */
export interface SmsOutboxRetryTable {
  id: Generated<string>;
  outbox_id: string;
  retried_at: Generated<Date>;
  retried_by: string;
  status: MessageStatus;
  attempts: number;
  error_code: string | null;
  error_message: string | null;
  receipt_state: string | null;
  receipt_error: string | null;
  message_ids: string[] | null;
  submitted_at: NullableTimestamp;
  done_at: Timestamp;
}

export type OptOutSource = 'keyword' | 'operator';

/** Recipients who get no marketing message (0014). */
export interface SmsOptOutTable {
  recipient: string;
  opted_out_at: Generated<Date>;
  source: OptOutSource;
  /** The stop keyword as compared (source keyword). */
  keyword: string | null;
  /** The sms_inbox row of the stop keyword. */
  inbox_id: string | null;
  /** Who called sms_opt_out() (source operator). */
  actor: string | null;
}

/** Every opt-out and opt-in, by keyword or call (0014). */
export interface SmsOptOutLogTable {
  id: Generated<string>;
  at: Generated<Date>;
  recipient: string;
  action: 'opt_out' | 'opt_in';
  source: OptOutSource;
  keyword: string | null;
  inbox_id: string | null;
  actor: string | null;
  /** false: the recipient already was in that state. */
  changed: boolean;
}

export interface SmsOutboxPartTable {
  outbox_id: string;
  part_no: number;
  /** Normalised SMSC id (lower case, leading zeros stripped) for receipt matching. */
  message_id: string;
  submitted_at: Generated<Date>;
  receipt_state: string | null;
  receipt_error: string | null;
  done_at: NullableTimestamp;
}

export interface SmsReceiptTable {
  id: Generated<string>;
  received_at: Generated<Date>;
  /** Normalised id as received. */
  message_id: string;
  raw_message_id: string;
  state: string | null;
  error: string | null;
  source_addr: string | null;
  destination_addr: string | null;
  text: string | null;
  outbox_id: string | null;
  matched_at: NullableTimestamp;
}

export interface SmsInboxTable {
  id: Generated<string>;
  received_at: Generated<Date>;
  sender: string;
  recipient: string;
  body: string;
  encoding: string;
  parts: number;
  /** Parts that never arrived (assembled after the reassembly timeout); 0 when complete. */
  missing_parts: Generated<number>;
  /** The user data as received, without UDH (parts joined in order); null for rows from before 0009. */
  payload: Buffer | null;
  /** The body has U+FFFD in place of characters Postgres text cannot hold; payload has the bytes. */
  body_replaced: Generated<boolean>;
  /** Keyed hash, length and time of the redaction that blanked body and payload (0013). */
  body_hash: Buffer | null;
  body_length: number | null;
  redacted_at: NullableTimestamp;
  /** What the text did as a stop / start keyword (set by a trigger, 0014); null for other texts. */
  keyword_action: 'opt_out' | 'opt_in' | 'ignored' | null;
  /** The message of ours it answers, and whose conversation it is (set by a trigger, 0023). */
  in_reply_to: string | null;
  owner: string | null;
  /** How often the SMSC delivered it: redeliveries are counted here, not stored again (0023). */
  deliveries: Generated<number>;
  /** Parts delivered again after the set was assembled: counted here, not stored (0025). */
  duplicate_parts: Generated<number>;
}

/** Reply rules (sms_on_inbound, 0024): whose, run as whom, which handler, and what it matches. */
export interface SmsInboundRuleTable {
  id: Generated<string>;
  created_at: Generated<Date>;
  owner: string;
  runs_as: string;
  /** The handler, as regprocedure text ('orders.on_sms_reply(sms_inbox,uuid)'). */
  handler: string;
  keywords: string[] | null;
  keyword_keys: string[] | null;
  pattern: string | null;
  recipient: string | null;
  reply_to_category: string | null;
  reply_to_metadata: unknown | null;
  timeouts: Generated<number>;
  suspended_at: NullableTimestamp;
  suspended_reason: string | null;
}

/** A reply handler call that failed, kept until replayed (0024). */
export interface SmsHandlerErrorTable {
  id: Generated<string>;
  inbox_id: string;
  rule_id: string;
  owner: string;
  failed_at: Generated<Date>;
  error_code: string;
  error_message: string;
  error_context: string | null;
  attempts: Generated<number>;
  replay_requested_at: NullableTimestamp;
}

export type ParkedKind = 'receipt' | 'mo' | 'mo_set';

/** Incoming traffic Postgres refused to store, kept with the error until replayed (0009). */
export interface SmsInboundParkedTable {
  id: Generated<string>;
  parked_at: Generated<Date>;
  kind: ParkedKind;
  /** deliver_sm or data_sm (receipt, mo). */
  command_id: number | null;
  /** The whole PDU as received (receipt, mo). */
  pdu: Buffer | null;
  sender: string | null;
  recipient: string | null;
  /** A concatenated message's reference, part count, data_coding and parts (mo_set). */
  concat_ref: number | null;
  concat_total: number | null;
  data_coding: number | null;
  part_seqs: number[] | null;
  part_payloads: Buffer[] | null;
  error_code: string;
  error_message: string;
  attempts: Generated<number>;
  last_attempt_at: Generated<Date>;
  replay_requested_at: NullableTimestamp;
}

export interface SmsInboxPartTable {
  sender: string;
  recipient: string;
  ref: number;
  total: number;
  seq: number;
  data_coding: number;
  payload: Buffer;
  received_at: Generated<Date>;
}

/** Concatenated incoming SMS assembled lately, to know a part delivered again (0025). */
export interface SmsInboxSetTable {
  sender: string;
  recipient: string;
  ref: number;
  total: number;
  assembled_at: Generated<Date>;
  part_hashes: Buffer[];
  inbox_id: string | null;
  duplicate_parts: Generated<number>;
}

export interface SmsSettingsTable {
  id: Generated<boolean>;
  default_sender: string | null;
  default_validity: ColumnType<PgInterval, string | undefined, string>;
  max_segments: Generated<number>;
  max_attempts: Generated<number>;
  updated_at: Generated<Date>;
  /** Blank bodies of finished messages / incoming SMS this long after (null: never). */
  redact_after: ColumnType<PgInterval | null, string | null, string | null>;
  inbox_redact_after: ColumnType<PgInterval | null, string | null, string | null>;
  smart_encoding: Generated<boolean>;
  /** Stored as compared: upper case, without spaces and punctuation. */
  stop_keywords: Generated<string[]>;
  start_keywords: Generated<string[]>;
  /** Set through sms_allow_service_role_read(); the worker never reads it. */
  service_role_reads_tables: Generated<boolean>;
  /** How long after expires_at a `sent` message may wait for its receipt before it is reported overdue (0020). */
  receipt_grace: ColumnType<PgInterval, string | undefined, string>;
  /** Threading and redelivery windows of incoming SMS (0023). */
  reply_window: ColumnType<PgInterval, string | undefined, string>;
  redelivery_window: ColumnType<PgInterval, string | undefined, string>;
  /** The auto-reply loop guard (0024). */
  auto_reply_limit: Generated<number>;
  auto_reply_window: ColumnType<PgInterval, string | undefined, string>;
}

export interface SmsWakeupTable {
  id: Generated<boolean>;
  /** true: the next sms_send NOTIFYs sms_outbox_wakeup; the worker sets it false while draining. */
  /** While in the future, sms_send NOTIFYs sms_outbox_wakeup; null or past: disarmed. */
  armed_until: NullableTimestamp;
}

/** The account-wide submit rate bucket shared by all workers (SMPP_TPS). */
export interface SmsRateLimitTable {
  id: Generated<boolean>;
  tokens: Generated<number>;
  refilled_at: Generated<Date>;
}

/** The opt-in that lets signed-in Supabase users text their own verified phone (0008). */
export interface SmsSelfSendSettingsTable {
  id: Generated<boolean>;
  enabled: Generated<boolean>;
  phone_source: Generated<'auth.users' | 'jwt'>;
  max_segments: Generated<number>;
  per_user_limit: Generated<number>;
  per_user_window: ColumnType<PgInterval, string | undefined, string>;
  per_recipient_limit: Generated<number>;
  per_recipient_window: ColumnType<PgInterval, string | undefined, string>;
  /** null: no total limit. */
  total_limit: ColumnType<number | null, number | null | undefined, number | null>;
  total_window: ColumnType<PgInterval, string | undefined, string>;
  updated_at: Generated<Date>;
}

/** One row per sms_send_to_self message: what its rate limits count. */
export interface SmsSelfSendLogTable {
  id: Generated<string>;
  sent_at: Generated<Date>;
  /** The user's canonical id: the JWT's sub, a uuid in lower case. */
  user_id: string;
  recipient: string;
  outbox_id: string;
}

/** How the Supabase Auth Send SMS Hook writes and limits sign-in codes (0012; one row). */
export interface SmsAuthHookSettingsTable {
  id: Generated<boolean>;
  /** {code}: the one-time code; {product}: product_name. */
  template: Generated<string>;
  product_name: Generated<string>;
  /** Android SMS Retriever app hash, sent as the last line. */
  app_hash: string | null;
  /** null: sms_settings.default_sender. */
  sender: string | null;
  code_validity: ColumnType<PgInterval, string | undefined, string>;
  priority: Generated<number>;
  per_phone_limit: Generated<number>;
  per_phone_window: ColumnType<PgInterval, string | undefined, string>;
  /** null: no ceiling. */
  per_minute_limit: ColumnType<number | null, number | null | undefined, number | null>;
  /** null: every country. */
  allowed_country_prefixes: string[] | null;
  users_see_own_codes: Generated<boolean>;
  updated_at: Generated<Date>;
}

/** One row per sign-in code the hook queued (never the code); status follows the message's. */
export interface SmsAuthCodeTable {
  outbox_id: string;
  created_at: Generated<Date>;
  user_id: string | null;
  phone: string;
  sms_type: string | null;
  status: Generated<MessageStatus>;
  expires_at: Timestamp;
  updated_at: Generated<Date>;
  /** When the phone was confirmed within the code's validity (the pumping defence, 0027). */
  confirmed_at: Date | null;
  /** The number range the pumping defence counted the code under. */
  pumping_range: string | null;
}

/** Every status change of a message that came with an error (0021); the row keeps only the last. */
export interface SmsOutboxAttemptTable {
  id: Generated<string>;
  outbox_id: string;
  at: Generated<Date>;
  /** sms_outbox.attempts at the change. */
  attempt: number;
  /** The status the change led to (queued: to be retried). */
  status: MessageStatus;
  error_code: string | null;
  error_message: string | null;
}

/** The session states a worker reports, and `stopped` once it has shut down. */
export type WorkerBindState = 'disconnected' | 'connecting' | 'binding' | 'bound' | 'unbinding' | 'closed' | 'stopped';

/** One row per worker process: its SMPP bind state and heartbeat (0021), written by src/worker/reporter.ts. */
export interface SmsWorkerStateTable {
  worker_id: string;
  host: string;
  pid: number;
  version: string;
  /** SMPP_URL without its password. */
  smsc: string;
  bind_mode: string;
  bind_state: WorkerBindState;
  bind_state_since: Timestamp;
  last_bound_at: NullableTimestamp;
  last_problem: string | null;
  started_at: Timestamp;
  heartbeat_at: ColumnType<Date, Date | string | undefined, Date | string>;
  heartbeat_interval: ColumnType<PgInterval, string, string>;
  stopped_at: NullableTimestamp;
}

/**
 * The text of a message only the worker may read (a sign-in code) while it is queued or sending;
 * sms_outbox.body holds it blanked (0018).
 */
export interface SmsOutboxSecretTable {
  outbox_id: string;
  body: string;
}

/** The pumping defence's settings (migration 0027): one row. */
export interface SmsPumpingSettingsTable {
  id: Generated<boolean>;
  enabled: Generated<boolean>;
  prefix_length: Generated<number>;
  judge_countries: Generated<boolean>;
  conversion_window: Generated<PgInterval>;
  min_codes: Generated<number>;
  country_min_codes: Generated<number>;
  min_conversion: Generated<number>;
  good_conversion: Generated<number>;
  spike_window: Generated<PgInterval>;
  spike_factor: Generated<number>;
  spike_min_codes: Generated<number>;
  probation_codes: Generated<number>;
  throttle_per_minute: Generated<number>;
  cooldown: Generated<PgInterval>;
  max_cooldown: Generated<PgInterval>;
  message: Generated<string>;
  watching_since: Generated<Date>;
}

/** A decision of the pumping defence on a number range or country (migration 0027). */
export interface SmsPumpingDecisionTable {
  id: Generated<string>;
  decided_at: Date;
  range: string;
  level: string;
  action: string;
  reason: string;
  until: Date | null;
  evidence: Generated<unknown>;
}

export interface Database {
  sms_outbox: SmsOutboxTable;
  sms_outbox_secret: SmsOutboxSecretTable;
  sms_outbox_part: SmsOutboxPartTable;
  sms_outbox_retry: SmsOutboxRetryTable;
  sms_outbox_attempt: SmsOutboxAttemptTable;
  sms_worker_state: SmsWorkerStateTable;
  sms_opt_out: SmsOptOutTable;
  sms_opt_out_log: SmsOptOutLogTable;
  sms_receipt: SmsReceiptTable;
  sms_inbox: SmsInboxTable;
  sms_inbox_part: SmsInboxPartTable;
  sms_inbox_set: SmsInboxSetTable;
  sms_inbound_parked: SmsInboundParkedTable;
  sms_inbound_rule: SmsInboundRuleTable;
  sms_handler_error: SmsHandlerErrorTable;
  sms_settings: SmsSettingsTable;
  sms_wakeup: SmsWakeupTable;
  sms_rate_limit: SmsRateLimitTable;
  sms_self_send_settings: SmsSelfSendSettingsTable;
  sms_self_send_log: SmsSelfSendLogTable;
  sms_auth_hook_settings: SmsAuthHookSettingsTable;
  sms_auth_code: SmsAuthCodeTable;
  sms_pumping_settings: SmsPumpingSettingsTable;
  sms_pumping_decision: SmsPumpingDecisionTable;
}
