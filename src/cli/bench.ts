// Placeholder until the bench command lands (see the open issues); replaced, not kept.
export async function benchCommand(_args: string[]): Promise<number> {
  throw new Error('sms-outbox bench is not available in this build yet');
}
