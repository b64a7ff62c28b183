import { Readable } from 'node:stream';
import fastifyMultipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadAssetException, UploadTooLargeException } from './asset.errors';
import type { UploadSource } from './assets.service';

/** Fastify route config flag (set with @RouteConfig) of routes that take a raw upload body. */
export const RAW_UPLOAD_ROUTE = 'likenessRawUpload';

/**
 * The content type a raw upload is parsed as. Only routes flagged RAW_UPLOAD_ROUTE are given
 * it, so every other route (and /graphql's JSON) keeps Fastify's normal parsers and limits.
 */
export const RAW_UPLOAD_CONTENT_TYPE = 'application/x-likeness-raw-upload';

/** Room for boundaries and part headers when judging a multipart body by its Content-Length. */
export const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

/** The multipart field that carries the file. */
export const FILE_FIELD = 'file';

/**
 * Teaches Fastify to stream upload bodies instead of buffering them:
 * - on flagged routes, a body of any Content-Type except multipart/form-data is relabelled
 *   RAW_UPLOAD_CONTENT_TYPE (the caller's type is not trusted anyway: media are sniffed), whose
 *   parser hands the request stream to the handler unread, past the 1 MB JSON body limit;
 * - multipart/form-data goes to @fastify/multipart, which also streams (`request.file()`).
 * Nothing is read before the handler runs, i.e. after authentication and access checks.
 */
export async function registerUploadTransport(fastify: FastifyInstance): Promise<void> {
  await fastify.register(fastifyMultipart, {
    limits: { files: 1, fields: 16, fieldSize: 64 * 1024, parts: 32, headerPairs: 64 },
  });
  fastify.addContentTypeParser(RAW_UPLOAD_CONTENT_TYPE, (_request, payload, done) => {
    done(null, payload);
  });
  fastify.addHook('onRequest', (request, _reply, done) => {
    const config = request.routeOptions.config as unknown as Record<string, unknown> | undefined;
    if (config?.[RAW_UPLOAD_ROUTE] === true && !isMultipart(request.headers['content-type'])) {
      request.headers['content-type'] = RAW_UPLOAD_CONTENT_TYPE;
    }
    done();
  });
}

function isMultipart(contentType: string | undefined): boolean {
  return contentType !== undefined && /^\s*multipart\/form-data\s*(;|$)/i.test(contentType);
}

/** Content-Length as a number, when the client declared a sane one. */
export function declaredLength(request: FastifyRequest): number | undefined {
  const header = request.headers['content-length'];
  return typeof header === 'string' && /^\d{1,16}$/.test(header) ? Number(header) : undefined;
}

/**
 * The file's bytes from a raw or multipart upload. A Content-Length beyond the plan's limit is
 * refused here, before a byte of the body is read (413, QUOTA_EXCEEDED); the byte limit is then
 * enforced again while streaming, for bodies without a length or with a false one.
 */
export async function uploadSourceOf(
  request: FastifyRequest,
  maxBytes: number,
): Promise<UploadSource> {
  const declared = declaredLength(request);
  if (request.isMultipart()) {
    if (declared !== undefined && declared > maxBytes + MULTIPART_OVERHEAD_BYTES) {
      throw new UploadTooLargeException(maxBytes);
    }
    let part: Awaited<ReturnType<FastifyRequest['file']>>;
    try {
      // One byte over the limit lets storage see, and refuse, an oversized file (busboy would
      // otherwise silently truncate it at the limit).
      part = await request.file({ limits: { fileSize: maxBytes + 1 } });
    } catch (error) {
      throw new BadAssetException(
        `The multipart body could not be read: ${error instanceof Error ? error.message : String(error)}`,
        'MISSING_FILE',
      );
    }
    if (!part || part.fieldname !== FILE_FIELD) {
      throw new BadAssetException(
        `Send the file in the multipart field "${FILE_FIELD}"${part ? ` (got "${part.fieldname}")` : ''}`,
        'MISSING_FILE',
      );
    }
    return { bytes: part.file.iterator({ destroyOnReturn: false }) };
  }
  if (declared !== undefined && declared > maxBytes) throw new UploadTooLargeException(maxBytes);
  const body: unknown = request.body;
  if (body === undefined || body === null) return { bytes: null };
  if (!(body instanceof Readable)) {
    throw new Error(`raw upload body is a ${typeof body}, not a stream: is the parser registered?`);
  }
  return { bytes: body.iterator({ destroyOnReturn: false }) };
}
