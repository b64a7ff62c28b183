-- Webhooks (apps/gateway/src/webhooks): endpoints with an encrypted signing secret and a
-- rotation grace, deliveries as an outbox (written in the transaction of the change they
-- report), one logged row per HTTP attempt, and one narrow SECURITY DEFINER function for the
-- sweeper that re-enqueues deliveries whose queue job was lost (it must look across tenants).

ALTER TABLE webhook_endpoints
  ADD COLUMN description                text,
  ADD COLUMN previous_secret            text,
  ADD COLUMN previous_secret_expires_at timestamptz(3),
  ADD COLUMN disabled_reason            text,
  ADD COLUMN failing_since              timestamptz(3);

ALTER TABLE webhook_deliveries
  ADD COLUMN event_id     uuid NOT NULL DEFAULT gen_random_uuid(),
  ADD COLUMN last_error   text,
  ADD COLUMN delivered_at timestamptz(3);

-- Listing an endpoint's deliveries newest first; the sweeper's scan of due PENDING rows.
DROP INDEX webhook_deliveries_endpoint_id_idx;
CREATE INDEX webhook_deliveries_endpoint_id_created_at_idx ON webhook_deliveries (endpoint_id, created_at);
CREATE INDEX webhook_deliveries_status_next_attempt_at_idx ON webhook_deliveries (status, next_attempt_at);

CREATE TABLE webhook_delivery_attempts (
  id              uuid           NOT NULL DEFAULT gen_random_uuid(),
  tenant_id       uuid           NOT NULL,
  delivery_id     uuid           NOT NULL,
  attempt         integer        NOT NULL,
  started_at      timestamptz(3) NOT NULL,
  duration_ms     integer        NOT NULL,
  response_status integer,
  error           text,
  next_attempt_at timestamptz(3),
  created_at      timestamptz(3) NOT NULL DEFAULT now(),
  CONSTRAINT webhook_delivery_attempts_pkey PRIMARY KEY (id)
);
CREATE UNIQUE INDEX webhook_delivery_attempts_delivery_id_attempt_key
  ON webhook_delivery_attempts (delivery_id, attempt);
CREATE INDEX webhook_delivery_attempts_tenant_id_idx ON webhook_delivery_attempts (tenant_id);
ALTER TABLE webhook_delivery_attempts ADD CONSTRAINT webhook_delivery_attempts_tenant_id_fkey
  FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE webhook_delivery_attempts ADD CONSTRAINT webhook_delivery_attempts_delivery_id_fkey
  FOREIGN KEY (delivery_id) REFERENCES webhook_deliveries (id) ON DELETE CASCADE ON UPDATE CASCADE;

-- Row-level security as for every tenant-owned table (0001).
ALTER TABLE webhook_delivery_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_delivery_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_delivery_attempts
  USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
  WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY platform_all ON webhook_delivery_attempts TO likeness_platform
  USING (true) WITH CHECK (true);

-- The attempt log is append-only for the application (rows go when their delivery does).
GRANT SELECT, INSERT ON webhook_delivery_attempts TO likeness_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_delivery_attempts TO likeness_platform;

-- The sweeper: PENDING deliveries due at or before `cutoff` (oldest first, at most `max_rows`),
-- with their tenant and attempt count, nothing else. Owner likeness_platform, fixed
-- search_path, callable by likeness_app only (as the functions of 0001 and 0003).
CREATE FUNCTION likeness_due_webhook_deliveries(cutoff timestamptz, max_rows integer)
RETURNS TABLE (delivery_id uuid, tenant_id uuid, attempts integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
  SELECT d.id, d.tenant_id, d.attempts
  FROM webhook_deliveries d
  WHERE d.status = 'PENDING' AND d.next_attempt_at <= likeness_due_webhook_deliveries.cutoff
  ORDER BY d.next_attempt_at
  LIMIT least(greatest(likeness_due_webhook_deliveries.max_rows, 0), 1000)
$$;

ALTER FUNCTION likeness_due_webhook_deliveries(timestamptz, integer) OWNER TO likeness_platform;
REVOKE ALL ON FUNCTION likeness_due_webhook_deliveries(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION likeness_due_webhook_deliveries(timestamptz, integer) TO likeness_app;
