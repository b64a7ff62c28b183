-- Retention of webhook deliveries (apps/gateway/src/webhooks): finished deliveries (SUCCEEDED or
-- FAILED) older than the retention window are deleted by the sweeper in bounded batches, their
-- attempt log with them (ON DELETE CASCADE). PENDING deliveries are never purged. The function
-- looks across tenants, so it is SECURITY DEFINER like likeness_due_webhook_deliveries (0004):
-- owner likeness_platform, fixed search_path, callable by likeness_app only.

CREATE FUNCTION likeness_purge_webhook_deliveries(cutoff timestamptz, max_rows integer)
RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
  WITH doomed AS (
    SELECT d.id
    FROM webhook_deliveries d
    WHERE d.status IN ('SUCCEEDED', 'FAILED')
      AND d.created_at < likeness_purge_webhook_deliveries.cutoff
    ORDER BY d.created_at
    LIMIT least(greatest(likeness_purge_webhook_deliveries.max_rows, 0), 10000)
    FOR UPDATE SKIP LOCKED
  ), gone AS (
    DELETE FROM webhook_deliveries d USING doomed WHERE d.id = doomed.id RETURNING 1
  )
  SELECT count(*)::integer FROM gone
$$;

ALTER FUNCTION likeness_purge_webhook_deliveries(timestamptz, integer) OWNER TO likeness_platform;
REVOKE ALL ON FUNCTION likeness_purge_webhook_deliveries(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION likeness_purge_webhook_deliveries(timestamptz, integer) TO likeness_app;
