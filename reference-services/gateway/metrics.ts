import { Counter, type Registry } from 'prom-client';

export type UploadResult = 'accepted' | 'too_large' | 'rejected' | 'error';

export interface GatewayMetrics {
  uploads: Counter<'result'>;
  uploadBytes: Counter<string>;
}

export function gatewayMetrics(registry: Registry): GatewayMetrics {
  return {
    uploads: new Counter({
      name: 'percolate_uploads_total',
      help: 'Uploads by result: accepted (job queued), too_large (413), rejected (other 4xx), error (5xx)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    uploadBytes: new Counter({
      name: 'percolate_upload_bytes_total',
      help: 'Bytes of accepted uploads written to the upload store',
      registers: [registry],
    }),
  };
}

export function uploadResultOf(status: number): UploadResult {
  if (status === 413) return 'too_large';
  if (status >= 500) return 'error';
  return status >= 400 ? 'rejected' : 'accepted';
}
