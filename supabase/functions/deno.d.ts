/**
 * The little of Deno's runtime API the Edge Functions here use, so `npm run typecheck` can check
 * them with tsc (Deno is not needed to build or test this project). Signatures follow Deno's
 * lib.deno.ns.d.ts; a function using more of Deno must declare it here, or the check fails.
 */
declare namespace Deno {
  interface ServeHandlerInfo {
    remoteAddr: { hostname: string; port: number; transport: 'tcp' | 'udp' };
  }
  type ServeHandler = (request: Request, info: ServeHandlerInfo) => Response | Promise<Response>;
  interface HttpServer {
    finished: Promise<void>;
    shutdown(): Promise<void>;
  }
  function serve(handler: ServeHandler): HttpServer;

  interface Env {
    get(key: string): string | undefined;
  }
  const env: Env;
}

/** Supabase's Edge Runtime resolves jsr: specifiers; here they map to the npm package (same code, same types). */
declare module 'jsr:@supabase/supabase-js@2' {
  export * from '@supabase/supabase-js';
}
