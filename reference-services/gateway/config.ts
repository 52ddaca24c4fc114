import { envInt, envString } from '../shared/env.ts';
import { loadProfile } from '../shared/profile.ts';
import { DEFAULT_PUBLISH_TIMEOUT_MS } from '../shared/nats.ts';

export interface GatewayConfig {
  port: number;
  host: string;
  natsUrl: string;
  maxUploadBytes: number;
  uploadDir: string | undefined;
  unreadyGraceMs: number;
  drainTimeoutMs: number;
  /** How long an upload waits for JetStream to store its job (a stream leader re-elected inside it). */
  publishTimeoutMs: number;
}

export function gatewayConfigFromEnv(): GatewayConfig {
  const profile = loadProfile();
  return {
    port: envInt('PORT', 8082),
    host: envString('HOST', '127.0.0.1'),
    natsUrl: envString('NATS_URL', 'nats://127.0.0.1:4222'),
    maxUploadBytes: envInt('MAX_UPLOAD_BYTES', 10 * 1024 * 1024),
    uploadDir: process.env.UPLOAD_DIR || undefined,
    unreadyGraceMs: envInt('UNREADY_GRACE_MS', 0),
    drainTimeoutMs: envInt('DRAIN_TIMEOUT_MS', profile.drainTimeoutMs),
    publishTimeoutMs: Math.max(100, envInt('PUBLISH_TIMEOUT_MS', DEFAULT_PUBLISH_TIMEOUT_MS)),
  };
}
