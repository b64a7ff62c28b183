import { Injectable } from '@nestjs/common';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { isErrorCode } from '@likeness/contracts';

const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Distinct GraphQL operation labels kept per process; callers choose names, so cap them. */
export const MAX_OPERATION_LABELS = 200;
export const OTHER_OPERATION = '__other';

/**
 * The gateway's Prometheus metrics, in a registry of its own (not prom-client's global one), so
 * several gateways in one process (tests) do not clash. Served at GET /metrics.
 */
@Injectable()
export class GatewayMetrics {
  readonly registry = new Registry();

  private readonly httpRequests = new Counter({
    name: 'likeness_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  private readonly httpDuration = new Histogram({
    name: 'likeness_http_request_duration_seconds',
    help: 'Time from receiving an HTTP request to answering it, by method and route pattern.',
    labelNames: ['method', 'route'] as const,
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });

  private readonly graphqlOperations = new Counter({
    name: 'likeness_graphql_operations_total',
    help: 'GraphQL operations resolved, by operation (name, else root fields) and type.',
    labelNames: ['operation', 'type'] as const,
    registers: [this.registry],
  });

  private readonly graphqlDuration = new Histogram({
    name: 'likeness_graphql_operation_duration_seconds',
    help: 'Time from a GraphQL request reaching the GraphQL handler to its response, by operation.',
    labelNames: ['operation'] as const,
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });

  private readonly graphqlErrors = new Counter({
    name: 'likeness_graphql_errors_total',
    help: 'GraphQL errors returned, by extensions.code.',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  private readonly operationLabels = new Set<string>();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  observeHttp(method: string, route: string, status: number, seconds: number): void {
    this.httpRequests.inc({ method, route, status: String(status) });
    this.httpDuration.observe({ method, route }, seconds);
  }

  observeGraphQLOperation(operation: string, type: string, seconds: number): void {
    const label = this.operationLabel(operation);
    this.graphqlOperations.inc({ operation: label, type });
    this.graphqlDuration.observe({ operation: label }, seconds);
  }

  countGraphQLError(code: unknown): void {
    this.graphqlErrors.inc({ code: isErrorCode(code) ? code : 'OTHER' });
  }

  /** Text exposition format, and its content type. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private operationLabel(operation: string): string {
    if (this.operationLabels.has(operation)) return operation;
    if (this.operationLabels.size >= MAX_OPERATION_LABELS) return OTHER_OPERATION;
    this.operationLabels.add(operation);
    return operation;
  }
}
