-- Renders (apps/gateway/src/renders): admission by the fair scheduler, the worker run the
-- gateway currently believes in (for idempotent, order-tolerant event handling), quota
-- reservations, cancellation, and the catalogue of model packs workers have advertised (so a
-- render for a pack whose workers scaled to zero is still validated and queued).

ALTER TABLE renders
  -- When the admitter gave the render a BullMQ job (null: waiting in Postgres).
  ADD COLUMN admitted_at         timestamptz(3),
  -- The worker run whose events are applied (a fresh id each time a worker starts the job),
  -- the last applied `seq` of that run, and the `at` of its first applied event.
  ADD COLUMN run_id              text,
  ADD COLUMN run_seq             integer          NOT NULL DEFAULT -1,
  ADD COLUMN run_at              timestamptz(3),
  -- Worker runs started (the public `attempts`); `attempts` counts admissions (job ids).
  ADD COLUMN runs                integer          NOT NULL DEFAULT 0,
  ADD COLUMN worker_id           text,
  ADD COLUMN last_event_at       timestamptz(3),
  ADD COLUMN cancel_requested_at timestamptz(3),
  -- Probed audio length and the frames it makes at the pack's fps.
  ADD COLUMN audio_seconds       double precision NOT NULL DEFAULT 0,
  ADD COLUMN frames              integer          NOT NULL DEFAULT 0,
  -- Video seconds reserved at creation (counted against the monthly quota), then the seconds
  -- charged (0 for cancelled and failed renders), and the price quoted at creation.
  ADD COLUMN billed_seconds      integer          NOT NULL DEFAULT 0,
  ADD COLUMN quoted_cents        integer          NOT NULL DEFAULT 0,
  ADD CONSTRAINT renders_billing_check CHECK (billed_seconds >= 0 AND quoted_cents >= 0);

-- The admitter: the tenant's most recent admission (round-robin order) …
CREATE INDEX renders_tenant_id_admitted_at_idx ON renders (tenant_id, admitted_at);
-- … monthly usage sums …
CREATE INDEX renders_tenant_id_created_at_idx ON renders (tenant_id, created_at);
-- … and each tenant's waiting line, in admission order (partial: only renders still waiting).
CREATE INDEX renders_waiting_idx ON renders (tenant_id, priority DESC, queued_at, id)
  WHERE status = 'QUEUED' AND admitted_at IS NULL;
-- Renders holding a slot (admitted, not finished): concurrency counts and the reconciler.
CREATE INDEX renders_in_flight_idx ON renders (tenant_id, admitted_at)
  WHERE status IN ('QUEUED', 'RUNNING', 'ENCODING') AND admitted_at IS NOT NULL;

-- Throughput for ETAs (likeness_render_queue_snapshot): recent starts, recent successes.
CREATE INDEX renders_started_at_idx ON renders (started_at) WHERE started_at IS NOT NULL;
CREATE INDEX renders_succeeded_finished_at_idx ON renders (finished_at) WHERE status = 'SUCCEEDED';

-- Model packs as live workers last advertised them. Platform data, not a tenant's: no RLS.
CREATE TABLE model_packs (
  name                text           NOT NULL,
  version             text           NOT NULL,
  capabilities        jsonb          NOT NULL,
  fps                 integer        NOT NULL,
  max_frames_per_clip integer        NOT NULL,
  last_seen_at        timestamptz(3) NOT NULL DEFAULT now(),
  CONSTRAINT model_packs_pkey PRIMARY KEY (name)
);
-- Row-level security like every table; the catalogue is shared, so the app's policy is open.
ALTER TABLE model_packs ENABLE ROW LEVEL SECURITY;
ALTER TABLE model_packs FORCE ROW LEVEL SECURITY;
CREATE POLICY shared_catalogue ON model_packs TO likeness_app USING (true) WITH CHECK (true);
CREATE POLICY platform_all ON model_packs TO likeness_platform USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE ON model_packs TO likeness_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON model_packs TO likeness_platform;

-- Signed preview URLs (GET /v1/renders/:id/preview) carry only the render id, checked by an
-- HMAC first; then the gateway needs the render's tenant and latest preview key without
-- knowing the tenant: one narrow lookup by primary key, like 0003's.
CREATE FUNCTION likeness_render_preview(render_id uuid)
RETURNS TABLE (tenant_id uuid, preview_key text, tenant_status text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
  SELECT r.tenant_id, r.progress ->> 'previewKey', t.status::text
  FROM renders r JOIN tenants t ON t.id = r.tenant_id
  WHERE r.id = likeness_render_preview.render_id
$$;

-- Queue positions and ETAs look at the whole queue but may only learn numbers: the waiting
-- counts of the OTHER tenants (no ids), the renders admitted but not started, and the recent
-- throughput.
CREATE FUNCTION likeness_render_queue_snapshot(for_tenant uuid)
RETURNS TABLE (
  other_waiting integer[], admitted_waiting integer, started_recently integer,
  seconds_per_video_second double precision
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
  SELECT
    (SELECT coalesce(array_agg(n ORDER BY n), '{}') FROM (
       SELECT count(*)::integer AS n FROM renders
       WHERE status = 'QUEUED' AND admitted_at IS NULL
         AND tenant_id <> likeness_render_queue_snapshot.for_tenant
       GROUP BY tenant_id) w),
    (SELECT count(*)::integer FROM renders
       WHERE status = 'QUEUED' AND admitted_at IS NOT NULL),
    (SELECT count(*)::integer FROM renders
       WHERE started_at > now() - interval '10 minutes'),
    (SELECT avg(extract(epoch FROM finished_at - started_at) / greatest(audio_seconds, 0.1))
       FROM renders
       WHERE status = 'SUCCEEDED' AND finished_at > now() - interval '1 hour'
         AND started_at IS NOT NULL)
$$;

-- How many admitted renders (any tenant) wait for a worker since before `before`: the queue
-- position of an admitted render.
CREATE FUNCTION likeness_render_admitted_ahead(before timestamptz)
RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
  SELECT count(*)::integer FROM renders
  WHERE status = 'QUEUED' AND admitted_at IS NOT NULL
    AND admitted_at < likeness_render_admitted_ahead.before
$$;

ALTER FUNCTION likeness_render_preview(uuid) OWNER TO likeness_platform;
ALTER FUNCTION likeness_render_queue_snapshot(uuid) OWNER TO likeness_platform;
ALTER FUNCTION likeness_render_admitted_ahead(timestamptz) OWNER TO likeness_platform;
REVOKE ALL ON FUNCTION likeness_render_preview(uuid), likeness_render_queue_snapshot(uuid),
  likeness_render_admitted_ahead(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION likeness_render_preview(uuid), likeness_render_queue_snapshot(uuid),
  likeness_render_admitted_ahead(timestamptz) TO likeness_app;
