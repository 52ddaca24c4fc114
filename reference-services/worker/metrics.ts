import { Counter, Gauge, Histogram, type Registry, Summary } from 'prom-client';

export type JobResult = 'done' | 'failed' | 'retry' | 'dead_letter' | 'duplicate';

export interface WorkerMetrics {
  processed: Counter<'result'>;
  processing: Histogram<string>;
  delivery: Histogram<string>;
  deliveryQuantiles: Summary<string>;
  inFlight: Gauge<string>;
}

export function workerMetrics(registry: Registry): WorkerMetrics {
  return {
    processed: new Counter({
      name: 'percolate_jobs_processed_total',
      help: 'Job deliveries by outcome: done, failed (dead-lettered at once), retry (nak), dead_letter (max deliveries), duplicate (already done)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    processing: new Histogram({
      name: 'percolate_job_processing_seconds',
      help: 'Time from receiving a job to its ack or nak',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers: [registry],
    }),
    delivery: new Histogram({
      name: 'percolate_job_delivery_seconds',
      help: 'Time from the gateway publishing a job to a worker receiving it (first delivery only)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    // The same observations as quantiles over the worker's life, which is what a benchmark reads.
    deliveryQuantiles: new Summary({
      name: 'percolate_job_delivery_quantile_seconds',
      help: 'Job delivery time quantiles (first delivery only)',
      percentiles: [0.5, 0.99],
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: 'percolate_jobs_in_flight',
      help: 'Jobs this worker is processing now',
      registers: [registry],
    }),
  };
}
