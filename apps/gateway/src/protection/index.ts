export { ProtectionModule } from './protection.module';
export { RateLimitService, type RateLimitDecision } from './rate-limits';
export { registerHttpProtection } from './http-protection';
export {
  corsOptions,
  helmetOptions,
  registerSecurityHeaders,
  securityHeaders,
} from './http-hardening';
export { RequestRateLimitedException, QueryRejectedException } from './protection.errors';
export { isGraphQLRequest, restErrorBody, sendLikenessError } from './error-response';
