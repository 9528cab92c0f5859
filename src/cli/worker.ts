// Placeholder until the worker command lands (see the open issues); replaced, not kept.
export async function workerCommand(_args: string[]): Promise<number> {
  throw new Error('sms-outbox worker is not available in this build yet');
}
