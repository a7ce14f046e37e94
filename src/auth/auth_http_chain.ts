/**
 * What stands behind `auth_http` in a server (beyond nginx): the first URL's
 * client, the further URLs tried in turn while one is down (multi_url.ts), and
 * the positive-answer cache in front of them all when `auth_http_cache` is set
 * (cache.ts). Without either it is the plain AuthHttpClient, as in nginx.
 */
import type { EffectiveServer } from "../config/model.ts";
import type { AuthHttpClient } from "./auth_http.ts";
import type { AuthSource } from "./types.ts";
import { MultiUrlAuth } from "./multi_url.ts";
import { CachingAuth } from "./cache.ts";

export interface AuthHttpHooks {
  /** Each auth_http_cache lookup (metrics: mailproxy_auth_cache_hits_total / misses_total). */
  onCacheLookup?: (hit: boolean) => void;
}

export function authHttpChain(
  server: Pick<EffectiveServer, "auth_http" | "auth_http_cache">,
  first: AuthHttpClient,
  hooks: AuthHttpHooks = {},
): AuthSource {
  const fallbacks = (server.auth_http?.fallbacks ?? []).map((url) => first.withUrl(url));
  const asked: AuthSource = fallbacks.length > 0 ? new MultiUrlAuth([first, ...fallbacks]) : first;
  const cache = server.auth_http_cache;
  if (!cache) return asked;
  return new CachingAuth(asked, { validMs: cache.valid, max: cache.max, onLookup: hooks.onCacheLookup });
}
