// Placeholder until the status command lands (see the open issues); replaced, not kept.
export async function statusCommand(_args: string[]): Promise<number> {
  throw new Error('sms-outbox status is not available in this build yet');
}
