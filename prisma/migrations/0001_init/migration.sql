-- 0001_init: the whole Likeness schema, row-level security, grants and the SECURITY DEFINER
-- functions of the pre-tenant paths. Applied by libs/db's runner in one transaction; the runner
-- creates the cluster-wide roles `likeness_app` and `likeness_platform` before this runs.
-- Names follow Prisma's conventions (<table>_<cols>_key / _idx / _fkey) so schema.prisma and
-- this file read alike; libs/db's drift test compares them.

CREATE EXTENSION IF NOT EXISTS vector;

-- ---------------------------------------------------------------------------------------------
-- Enums
CREATE TYPE tenant_status AS ENUM ('ACTIVE', 'SUSPENDED');
CREATE TYPE user_role AS ENUM ('PLATFORM_ADMIN', 'TENANT_ADMIN', 'TENANT_VIEWER');
CREATE TYPE asset_kind AS ENUM ('IMAGE', 'AUDIO', 'VIDEO');
CREATE TYPE avatar_status AS ENUM ('PROCESSING', 'READY', 'FAILED');
CREATE TYPE render_status AS ENUM ('QUEUED', 'RUNNING', 'ENCODING', 'SUCCEEDED', 'FAILED', 'CANCELED');
CREATE TYPE webhook_delivery_status AS ENUM ('PENDING', 'SUCCEEDED', 'FAILED');

-- ---------------------------------------------------------------------------------------------
-- Tables
CREATE TABLE tenants (
  id                 uuid          NOT NULL DEFAULT gen_random_uuid(),
  name               text          NOT NULL,
  slug               text          NOT NULL,
  plan               text          NOT NULL DEFAULT 'free',
  status             tenant_status NOT NULL DEFAULT 'ACTIVE',
  limits             jsonb         NOT NULL DEFAULT '{}',
  stripe_customer_id text,
  created_at         timestamptz(3) NOT NULL DEFAULT now(),
  updated_at         timestamptz(3) NOT NULL DEFAULT now(),
  CONSTRAINT tenants_pkey PRIMARY KEY (id)
);
CREATE UNIQUE INDEX tenants_slug_key ON tenants (slug);

CREATE TABLE users (
  id            uuid      NOT NULL DEFAULT gen_random_uuid(),
  tenant_id     uuid,
  email         text      NOT NULL,
  password_hash text      NOT NULL,
  role          user_role NOT NULL,
  created_at    timestamptz(3) NOT NULL DEFAULT now(),
  updated_at    timestamptz(3) NOT NULL DEFAULT now(),
  CONSTRAINT users_pkey PRIMARY KEY (id),
  -- platform admins have no tenant; everybody else has exactly one
  CONSTRAINT users_tenant_role_check CHECK ((role = 'PLATFORM_ADMIN') = (tenant_id IS NULL))
);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_tenant_id_idx ON users (tenant_id);

CREATE TABLE sessions (
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  user_id    uuid NOT NULL,
  token_hash text NOT NULL,
  expires_at timestamptz(3) NOT NULL,
  revoked_at timestamptz(3),
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  CONSTRAINT sessions_pkey PRIMARY KEY (id)
);
CREATE UNIQUE INDEX sessions_token_hash_key ON sessions (token_hash);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

CREATE TABLE api_keys (
  id              uuid   NOT NULL DEFAULT gen_random_uuid(),
  tenant_id       uuid   NOT NULL,
  name            text   NOT NULL,
  prefix          text   NOT NULL,
  secret_hash     text   NOT NULL,
  scopes          text[] NOT NULL DEFAULT '{}',
  expires_at      timestamptz(3),
  revoked_at      timestamptz(3),
  last_used_at    timestamptz(3),
  spend_cap_cents integer,
  created_at      timestamptz(3) NOT NULL DEFAULT now(),
  CONSTRAINT api_keys_pkey PRIMARY KEY (id)
);
CREATE UNIQUE INDEX api_keys_secret_hash_key ON api_keys (secret_hash);
CREATE INDEX api_keys_tenant_id_idx ON api_keys (tenant_id);

CREATE TABLE assets (
  id          uuid       NOT NULL DEFAULT gen_random_uuid(),
  tenant_id   uuid       NOT NULL,
  kind        asset_kind NOT NULL,
  mime        text       NOT NULL,
  bytes       bigint     NOT NULL,
  sha256      text       NOT NULL,
  storage_key text       NOT NULL,
  probe       jsonb      NOT NULL DEFAULT '{}',
  created_at  timestamptz(3) NOT NULL DEFAULT now(),
  CONSTRAINT assets_pkey PRIMARY KEY (id)
);
CREATE INDEX assets_tenant_id_idx ON assets (tenant_id);
CREATE INDEX assets_tenant_id_sha256_idx ON assets (tenant_id, sha256);

CREATE TABLE avatars (
  id                  uuid          NOT NULL DEFAULT gen_random_uuid(),
  tenant_id           uuid          NOT NULL,
  name                text          NOT NULL,
  image_asset_id      uuid          NOT NULL,
  face_index          integer,
  face_box            jsonb,
  keypoints           jsonb,
  status              avatar_status NOT NULL DEFAULT 'PROCESSING',
  failure_reason      text,
  consent_attestation text          NOT NULL,
  consent_at          timestamptz(3) NOT NULL,
  model_pack          text          NOT NULL,
  preview_asset_id    uuid,
  created_at          timestamptz(3) NOT NULL DEFAULT now(),
  updated_at          timestamptz(3) NOT NULL DEFAULT now(),
  CONSTRAINT avatars_pkey PRIMARY KEY (id)
);
CREATE INDEX avatars_tenant_id_idx ON avatars (tenant_id);

CREATE TABLE identity_embeddings (
  id         uuid    NOT NULL DEFAULT gen_random_uuid(),
  tenant_id  uuid    NOT NULL,
  avatar_id  uuid    NOT NULL,
  model      text    NOT NULL,
  dim        integer NOT NULL,
  embedding  vector  NOT NULL,
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  CONSTRAINT identity_embeddings_pkey PRIMARY KEY (id),
  CONSTRAINT identity_embeddings_dim_check CHECK (vector_dims(embedding) = dim)
);
CREATE UNIQUE INDEX identity_embeddings_avatar_id_key ON identity_embeddings (avatar_id);
CREATE INDEX identity_embeddings_tenant_id_idx ON identity_embeddings (tenant_id);
-- HNSW needs a fixed dimension, the column does not have one (packs differ): index the
-- 512-d embeddings (ArcFace-style identity encoders) through an expression; AvatarRepository
-- queries with the same expression for that dimension. Add one index per new dimension.
CREATE INDEX identity_embeddings_embedding_512_hnsw_idx ON identity_embeddings
  USING hnsw ((embedding::vector(512)) vector_cosine_ops) WHERE dim = 512;

CREATE TABLE renders (
  id                 uuid          NOT NULL DEFAULT gen_random_uuid(),
  tenant_id          uuid          NOT NULL,
  api_key_id         uuid,
  avatar_id          uuid          NOT NULL,
  audio_asset_id     uuid          NOT NULL,
  prompt             text          NOT NULL DEFAULT '',
  controls           jsonb         NOT NULL DEFAULT '{}',
  seed               integer       NOT NULL,
  model_pack         text          NOT NULL,
  model_pack_version text          NOT NULL,
  status             render_status NOT NULL DEFAULT 'QUEUED',
  priority           integer       NOT NULL DEFAULT 0,
  progress           jsonb,
  output_asset_id    uuid,
  identity_score     double precision,
  cost_cents         integer,
  error              jsonb,
  attempts           integer       NOT NULL DEFAULT 0,
  idempotency_key    text,
  input_hash         text          NOT NULL,
  event_sequence     integer       NOT NULL DEFAULT 0,
  queued_at          timestamptz(3) NOT NULL DEFAULT now(),
  started_at         timestamptz(3),
  finished_at        timestamptz(3),
  deadline_at        timestamptz(3),
  created_at         timestamptz(3) NOT NULL DEFAULT now(),
  updated_at         timestamptz(3) NOT NULL DEFAULT now(),
  CONSTRAINT renders_pkey PRIMARY KEY (id)
);
CREATE UNIQUE INDEX renders_tenant_id_idempotency_key_key ON renders (tenant_id, idempotency_key);
CREATE INDEX renders_tenant_id_idx ON renders (tenant_id);
CREATE INDEX renders_tenant_id_status_idx ON renders (tenant_id, status);
CREATE INDEX renders_status_queued_at_idx ON renders (status, queued_at);

CREATE TABLE render_events (
  id         uuid    NOT NULL DEFAULT gen_random_uuid(),
  tenant_id  uuid    NOT NULL,
  render_id  uuid    NOT NULL,
  sequence   integer NOT NULL,
  type       text    NOT NULL,
  payload    jsonb   NOT NULL DEFAULT '{}',
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  CONSTRAINT render_events_pkey PRIMARY KEY (id)
);
CREATE UNIQUE INDEX render_events_render_id_sequence_key ON render_events (render_id, sequence);
CREATE INDEX render_events_tenant_id_idx ON render_events (tenant_id);

CREATE TABLE usage_events (
  id         uuid           NOT NULL DEFAULT gen_random_uuid(),
  tenant_id  uuid           NOT NULL,
  api_key_id uuid,
  render_id  uuid           NOT NULL,
  quantity   numeric(18, 6) NOT NULL,
  unit       text           NOT NULL,
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  CONSTRAINT usage_events_pkey PRIMARY KEY (id)
);
CREATE UNIQUE INDEX usage_events_render_id_key ON usage_events (render_id);
CREATE INDEX usage_events_tenant_id_idx ON usage_events (tenant_id);

CREATE TABLE stripe_outbox (
  id         uuid    NOT NULL DEFAULT gen_random_uuid(),
  tenant_id  uuid    NOT NULL,
  kind       text    NOT NULL,
  payload    jsonb   NOT NULL,
  sent_at    timestamptz(3),
  attempts   integer NOT NULL DEFAULT 0,
  last_error text,
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  CONSTRAINT stripe_outbox_pkey PRIMARY KEY (id)
);
CREATE INDEX stripe_outbox_tenant_id_idx ON stripe_outbox (tenant_id);

CREATE TABLE webhook_endpoints (
  id            uuid    NOT NULL DEFAULT gen_random_uuid(),
  tenant_id     uuid    NOT NULL,
  url           text    NOT NULL,
  event_types   text[]  NOT NULL DEFAULT '{}',
  secret        text    NOT NULL,
  disabled_at   timestamptz(3),
  failure_count integer NOT NULL DEFAULT 0,
  created_at    timestamptz(3) NOT NULL DEFAULT now(),
  updated_at    timestamptz(3) NOT NULL DEFAULT now(),
  CONSTRAINT webhook_endpoints_pkey PRIMARY KEY (id)
);
CREATE INDEX webhook_endpoints_tenant_id_idx ON webhook_endpoints (tenant_id);

CREATE TABLE webhook_deliveries (
  id              uuid                    NOT NULL DEFAULT gen_random_uuid(),
  tenant_id       uuid                    NOT NULL,
  endpoint_id     uuid                    NOT NULL,
  event_type      text                    NOT NULL,
  payload         jsonb                   NOT NULL,
  status          webhook_delivery_status NOT NULL DEFAULT 'PENDING',
  attempts        integer                 NOT NULL DEFAULT 0,
  next_attempt_at timestamptz(3),
  response_status integer,
  created_at      timestamptz(3) NOT NULL DEFAULT now(),
  updated_at      timestamptz(3) NOT NULL DEFAULT now(),
  CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (id)
);
CREATE INDEX webhook_deliveries_tenant_id_idx ON webhook_deliveries (tenant_id);
CREATE INDEX webhook_deliveries_endpoint_id_idx ON webhook_deliveries (endpoint_id);

CREATE TABLE audit_log (
  id         uuid  NOT NULL DEFAULT gen_random_uuid(),
  tenant_id  uuid,
  actor      text  NOT NULL,
  action     text  NOT NULL,
  target     text,
  data       jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  CONSTRAINT audit_log_pkey PRIMARY KEY (id)
);
CREATE INDEX audit_log_tenant_id_created_at_idx ON audit_log (tenant_id, created_at);

-- ---------------------------------------------------------------------------------------------
-- Foreign keys
ALTER TABLE users ADD CONSTRAINT users_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE sessions ADD CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE assets ADD CONSTRAINT assets_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE avatars ADD CONSTRAINT avatars_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE avatars ADD CONSTRAINT avatars_image_asset_id_fkey FOREIGN KEY (image_asset_id) REFERENCES assets (id) ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE avatars ADD CONSTRAINT avatars_preview_asset_id_fkey FOREIGN KEY (preview_asset_id) REFERENCES assets (id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE identity_embeddings ADD CONSTRAINT identity_embeddings_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE identity_embeddings ADD CONSTRAINT identity_embeddings_avatar_id_fkey FOREIGN KEY (avatar_id) REFERENCES avatars (id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE renders ADD CONSTRAINT renders_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE renders ADD CONSTRAINT renders_api_key_id_fkey FOREIGN KEY (api_key_id) REFERENCES api_keys (id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE renders ADD CONSTRAINT renders_avatar_id_fkey FOREIGN KEY (avatar_id) REFERENCES avatars (id) ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE renders ADD CONSTRAINT renders_audio_asset_id_fkey FOREIGN KEY (audio_asset_id) REFERENCES assets (id) ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE renders ADD CONSTRAINT renders_output_asset_id_fkey FOREIGN KEY (output_asset_id) REFERENCES assets (id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE render_events ADD CONSTRAINT render_events_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE render_events ADD CONSTRAINT render_events_render_id_fkey FOREIGN KEY (render_id) REFERENCES renders (id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE usage_events ADD CONSTRAINT usage_events_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE usage_events ADD CONSTRAINT usage_events_api_key_id_fkey FOREIGN KEY (api_key_id) REFERENCES api_keys (id) ON DELETE SET NULL ON UPDATE CASCADE;
ALTER TABLE usage_events ADD CONSTRAINT usage_events_render_id_fkey FOREIGN KEY (render_id) REFERENCES renders (id) ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE stripe_outbox ADD CONSTRAINT stripe_outbox_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE webhook_endpoints ADD CONSTRAINT webhook_endpoints_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_endpoint_id_fkey FOREIGN KEY (endpoint_id) REFERENCES webhook_endpoints (id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE ON UPDATE CASCADE;

-- ---------------------------------------------------------------------------------------------
-- Row-level security.
-- * `tenant_isolation` (every role): a row is visible and writable only when its tenant is the
--   transaction's `app.tenant_id` (set by Db.withTenant with set_config(..., true)). Unset or
--   empty setting => NULL => no rows. No other escape hatch exists in any policy.
-- * `platform_all` (only likeness_platform, NOLOGIN, never granted to likeness_app): the
--   SECURITY DEFINER functions below and Db's privileged path (SET LOCAL ROLE likeness_platform)
--   act across tenants.
-- * FORCE: the table owner is subject to the policies too.
DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['users', 'api_keys', 'assets', 'avatars', 'identity_embeddings',
      'renders', 'render_events', 'usage_events', 'stripe_outbox', 'webhook_endpoints',
      'webhook_deliveries', 'audit_log']
  LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
        USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
        WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)$p$, t);
    EXECUTE format('CREATE POLICY platform_all ON %I TO likeness_platform USING (true) WITH CHECK (true)', t);
  END LOOP;
END
$$;

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
  USING (id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_all ON tenants TO likeness_platform USING (true) WITH CHECK (true);

-- sessions belong to users, not tenants (platform admins log in too): no tenant policy, so
-- only likeness_platform (definer functions, privileged path) reaches them.
ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_all ON sessions TO likeness_platform USING (true) WITH CHECK (true);

-- ---------------------------------------------------------------------------------------------
-- Grants. likeness_app owns nothing; it reads and writes tenant rows through RLS.
GRANT USAGE ON SCHEMA public TO likeness_app, likeness_platform;
GRANT SELECT ON tenants TO likeness_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, api_keys, assets, avatars, identity_embeddings,
  renders, stripe_outbox, webhook_endpoints, webhook_deliveries TO likeness_app;
-- append-only from the application's point of view
GRANT SELECT, INSERT ON render_events, usage_events, audit_log TO likeness_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, users, sessions, api_keys, assets, avatars,
  identity_embeddings, renders, render_events, usage_events, stripe_outbox, webhook_endpoints,
  webhook_deliveries, audit_log TO likeness_platform;

-- ---------------------------------------------------------------------------------------------
-- SECURITY DEFINER functions: the only ways likeness_app reaches rows before it knows the
-- tenant. Each looks up one row by a secret or unique key and returns only what the caller
-- needs. Owned by likeness_platform (so `platform_all` applies), fixed search_path.

CREATE FUNCTION likeness_authenticate_api_key(secret_hash text)
RETURNS TABLE (
  api_key_id uuid, tenant_id uuid, name text, prefix text, scopes text[],
  expires_at timestamptz, revoked_at timestamptz, spend_cap_cents integer,
  tenant_name text, tenant_slug text, tenant_plan text, tenant_status text
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
  SELECT k.id, k.tenant_id, k.name, k.prefix, k.scopes, k.expires_at, k.revoked_at,
         k.spend_cap_cents, t.name, t.slug, t.plan, t.status::text
  FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
  WHERE k.secret_hash = likeness_authenticate_api_key.secret_hash
$$;

CREATE FUNCTION likeness_find_user_for_login(email text)
RETURNS TABLE (
  user_id uuid, email text, password_hash text, role text, tenant_id uuid, tenant_status text
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
  SELECT u.id, u.email, u.password_hash, u.role::text, u.tenant_id, t.status::text
  FROM users u LEFT JOIN tenants t ON t.id = u.tenant_id
  WHERE u.email = lower(likeness_find_user_for_login.email)
$$;

CREATE FUNCTION likeness_authenticate_session(token_hash text)
RETURNS TABLE (
  session_id uuid, user_id uuid, expires_at timestamptz, revoked_at timestamptz,
  email text, role text, tenant_id uuid, tenant_status text
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
  SELECT s.id, u.id, s.expires_at, s.revoked_at, u.email, u.role::text, u.tenant_id, t.status::text
  FROM sessions s JOIN users u ON u.id = s.user_id LEFT JOIN tenants t ON t.id = u.tenant_id
  WHERE s.token_hash = likeness_authenticate_session.token_hash
$$;

CREATE FUNCTION likeness_revoke_session(token_hash text)
RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
  WITH revoked AS (
    UPDATE sessions s SET revoked_at = now()
    WHERE s.token_hash = likeness_revoke_session.token_hash AND s.revoked_at IS NULL
    RETURNING 1
  )
  SELECT count(*) > 0 FROM revoked
$$;

ALTER FUNCTION likeness_authenticate_api_key(text) OWNER TO likeness_platform;
ALTER FUNCTION likeness_find_user_for_login(text) OWNER TO likeness_platform;
ALTER FUNCTION likeness_authenticate_session(text) OWNER TO likeness_platform;
ALTER FUNCTION likeness_revoke_session(text) OWNER TO likeness_platform;
REVOKE ALL ON FUNCTION likeness_authenticate_api_key(text), likeness_find_user_for_login(text),
  likeness_authenticate_session(text), likeness_revoke_session(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION likeness_authenticate_api_key(text), likeness_find_user_for_login(text),
  likeness_authenticate_session(text), likeness_revoke_session(text) TO likeness_app;
