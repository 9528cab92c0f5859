/**
 * The part of the database's API the Edge Functions call, in the shape `supabase gen types
 * typescript` produces, so supabase-js checks argument names and types at compile time. It
 * mirrors sms-outbox's SQL contract (docs/reference/sql-api.md); test/supabase/edge-function.test.ts
 * runs the function against the real functions, so a mismatch fails there too.
 */
export type Json = string | number | boolean | null | { [key: string]: Json | undefined } | Json[];

export interface Database {
  public: {
    Tables: Record<never, never>;
    Views: Record<never, never>;
    Functions: {
      sms_send: {
        Args: {
          recipient: string;
          body: string;
          sender?: string;
          send_at?: string;
          expires_at?: string;
          priority?: number;
          idempotency_key?: string;
          metadata?: Json;
        };
        Returns: string;
      };
      sms_send_to_self: {
        Args: { body: string; idempotency_key?: string };
        Returns: string;
      };
      sms_cancel: { Args: { id: string }; Returns: boolean };
    };
    Enums: Record<never, never>;
    CompositeTypes: Record<never, never>;
  };
}
