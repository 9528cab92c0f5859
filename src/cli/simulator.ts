// Placeholder until the simulator command lands (see the open issues); replaced, not kept.
export async function simulatorCommand(_args: string[]): Promise<number> {
  throw new Error('sms-outbox simulator is not available in this build yet');
}
