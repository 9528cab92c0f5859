/** Reading what the URL and forms carry: every value checked, a bad one named in the answer. */
import { MESSAGE_STATUSES, type MessageCategory, type MessageStatus } from '../db/schema.js';
import type { MessageFilter } from '../db/console/messages.js';

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class BadParameter extends Error {}

/** A phone number as sms_outbox stores it: international digits, from "+7 (999) 123-45-67" and the like. */
export function phoneDigits(input: string): string {
  const digits = input.replace(/[\s().\-]/g, '').replace(/^\+/, '');
  if (!/^[1-9][0-9]{6,14}$/.test(digits)) throw new BadParameter(`"${input.slice(0, 40)}" is not a phone number in international form, e.g. +79991234567`);
  return digits;
}

/** A UTC time from a datetime-local field ("2025-06-01T10:15") or an ISO string. */
export function utcTime(name: string, input: string): Date {
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?))?$/.exec(input.trim());
  const d = m ? new Date(`${m[1]}T${m[2] ?? '00:00'}${m[2]?.length === 5 ? ':00' : ''}Z`) : new Date(input);
  if (Number.isNaN(d.getTime())) throw new BadParameter(`${name}: "${input.slice(0, 40)}" is not a time; use YYYY-MM-DD HH:MM (UTC)`);
  return d;
}

export function uuidParam(name: string, input: string | undefined): string | undefined {
  if (input === undefined || input === '') return undefined;
  if (!UUID.test(input)) throw new BadParameter(`${name}: "${input.slice(0, 40)}" is not a message id`);
  return input.toLowerCase();
}

/** The message filter of a query string; the raw values are kept to fill the form again. */
export function messageFilter(q: Record<string, string | undefined>): { filter: MessageFilter; raw: Record<string, string> } {
  const filter: MessageFilter = {};
  const raw: Record<string, string> = {};
  const status = q.status ?? '';
  if (status) {
    if (status !== 'ended_badly' && !(MESSAGE_STATUSES as readonly string[]).includes(status)) throw new BadParameter(`status: "${status.slice(0, 20)}" is not a status`);
    filter.status = status as MessageStatus | 'ended_badly';
    raw.status = status;
  }
  if (q.recipient) {
    filter.recipient = phoneDigits(q.recipient);
    raw.recipient = q.recipient;
  }
  if (q.from) {
    filter.from = utcTime('from', q.from);
    raw.from = q.from;
  }
  if (q.to) {
    filter.to = utcTime('to', q.to);
    raw.to = q.to;
  }
  if (q.category) {
    if (q.category !== 'transactional' && q.category !== 'marketing') throw new BadParameter(`category: "${q.category.slice(0, 20)}" is transactional or marketing`);
    filter.category = q.category as MessageCategory;
    raw.category = q.category;
  }
  if (q.owner) {
    if (q.owner.length > 200) throw new BadParameter('owner: at most 200 characters');
    filter.owner = q.owner;
    raw.owner = q.owner;
  }
  return { filter, raw };
}
