import { CliError } from './errors';

type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface GraphQLClientOptions {
  /** Gateway base URL; requests go to `${apiUrl}/graphql`. */
  readonly apiUrl: string;
  /** API key (`lk_live_…`/`lk_test_…`) or session token, sent as a Bearer token. */
  readonly token: string;
  readonly timeoutMs?: number;
  readonly fetch?: FetchLike;
}

interface GraphQLErrorBody {
  readonly message?: unknown;
  readonly extensions?: { readonly code?: unknown; readonly requestId?: unknown };
}

/**
 * A deliberately small GraphQL-over-HTTP client: one POST per operation, GraphQL errors become
 * CliErrors carrying `extensions.code`, transport failures become network CliErrors naming the URL.
 */
export class GraphQLClient {
  readonly endpoint: string;
  private readonly fetchImpl: FetchLike;
  private readonly timeoutMs: number;

  constructor(private readonly options: GraphQLClientOptions) {
    this.endpoint = `${options.apiUrl.replace(/\/+$/, '')}/graphql`;
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  async request<TData>(
    query: string,
    variables: Readonly<Record<string, unknown>> = {},
  ): Promise<TData> {
    let response: Response;
    let text: string;
    try {
      response = await this.fetchImpl(this.endpoint, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/graphql-response+json, application/json',
          Authorization: `Bearer ${this.options.token}`,
        },
        body: JSON.stringify({ query, variables }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      throw new CliError(
        'network',
        `cannot reach the Likeness API at ${this.endpoint}: ${describeNetworkError(error, this.timeoutMs)}`,
      );
    }

    const body = parseJson(text);
    const errors =
      isRecord(body) && Array.isArray(body['errors']) ? (body['errors'] as GraphQLErrorBody[]) : [];
    if (errors.length > 0) throw apiErrorOf(errors, response.status);
    if (!response.ok) {
      throw new CliError(
        'api',
        `HTTP ${response.status} ${response.statusText} from ${this.endpoint}`.trim(),
        `HTTP_${response.status}`,
      );
    }
    if (!isRecord(body) || !isRecord(body['data'])) {
      throw new CliError(
        'api',
        `unexpected response from ${this.endpoint}: no GraphQL data`,
        'BAD_RESPONSE',
      );
    }
    return body['data'] as TData;
  }
}

function apiErrorOf(errors: readonly GraphQLErrorBody[], status: number): CliError {
  const [first] = errors;
  const code =
    typeof first?.extensions?.code === 'string' ? first.extensions.code : `HTTP_${status}`;
  const messages = errors.map((e) => (typeof e.message === 'string' ? e.message : 'unknown error'));
  const requestId = first?.extensions?.requestId;
  const suffix = typeof requestId === 'string' ? ` (request id ${requestId})` : '';
  return new CliError('api', `${code}: ${messages.join('; ')}${suffix}`, code);
}

function describeNetworkError(error: unknown, timeoutMs: number): string {
  // Duck-typed: fetch's DOMExceptions need not be `instanceof Error` of this realm.
  const name = isRecord(error) ? error['name'] : undefined;
  if (name === 'TimeoutError' || name === 'AbortError')
    return `no answer within ${timeoutMs / 1000} s`;
  const cause = isRecord(error) ? error['cause'] : undefined;
  if (isRecord(cause) && typeof cause['code'] === 'string') return cause['code'];
  if (isRecord(error) && typeof error['message'] === 'string') return error['message'];
  return String(error);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
