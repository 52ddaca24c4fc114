import { envInt, envString } from '../shared/env.ts';
import { loadProfile } from '../shared/profile.ts';

export interface GatewayConfig {
  port: number;
  host: string;
  natsUrl: string;
  maxUploadBytes: number;
  uploadDir: string | undefined;
  unreadyGraceMs: number;
  drainTimeoutMs: number;
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
  };
}
