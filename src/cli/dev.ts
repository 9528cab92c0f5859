// Placeholder until the dev command lands (see the open issues); replaced, not kept.
export async function devCommand(_args: string[]): Promise<number> {
  throw new Error('sms-outbox dev is not available in this build yet');
}
