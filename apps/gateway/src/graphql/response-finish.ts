import type { ApolloServerPlugin } from '@apollo/server';
import type { FormattedExecutionResult, GraphQLFormattedError } from 'graphql';
import { ErrorCode, isErrorCode } from '@likeness/contracts';
import { httpStatusOf } from '../errors/likeness.exception';
import type { RequestWithPrincipal } from '../auth/principal';

/** The HTTP head of a GraphQL response as Apollo keeps it (its HeaderMap is a Map). */
export interface GraphQLHttpHead {
  status?: number;
  headers: Map<string, string>;
}

/**
 * The last word on every GraphQL-over-HTTP answer, from Apollo (the plugin below) and from the
 * direct execution path alike:
 * - `Cache-Control: no-store` (answers depend on the caller; Apollo's cache-control plugin,
 *   which used to say so, is off: see graphql.config.ts);
 * - the request id in every error's extensions;
 * - when the request failed as a whole (no data, or rate limited), the HTTP status of its error
 *   code, as the GraphQL-over-HTTP spec allows for application/graphql-response+json. A status
 *   already chosen (e.g. 400 for a refused query) stands.
 */
export function finishGraphQLResponse(
  result: FormattedExecutionResult,
  http: GraphQLHttpHead,
  requestId: string | undefined,
): void {
  http.headers.set('cache-control', 'no-store');
  const errors = result.errors;
  if (!errors?.length) return;
  if (requestId) {
    (result as { errors?: readonly GraphQLFormattedError[] }).errors = errors.map(
      (e): GraphQLFormattedError => ({ ...e, extensions: { ...e.extensions, requestId } }),
    );
  }
  if (http.status !== undefined) return;
  if (result.data == null) {
    const code = errors[0]?.extensions?.['code'];
    if (isErrorCode(code)) http.status = httpStatusOf(code);
  } else if (errors.some((e) => e.extensions?.['code'] === ErrorCode.RATE_LIMITED)) {
    // Rate limiting refuses the whole request even when nullable fields left partial data.
    http.status = httpStatusOf(ErrorCode.RATE_LIMITED);
  }
}

/** finishGraphQLResponse as an Apollo plugin (the request is the context's `req`). */
export const finishResponsePlugin: ApolloServerPlugin<{ req?: RequestWithPrincipal }> = {
  async requestDidStart() {
    return {
      async willSendResponse({ response, contextValue }) {
        // Incremental delivery needs graphql 17; no such answer can be made today.
        if (response.body.kind !== 'single') {
          response.http.headers.set('cache-control', 'no-store');
          return;
        }
        finishGraphQLResponse(response.body.singleResult, response.http, contextValue.req?.id);
      },
    };
  },
};
