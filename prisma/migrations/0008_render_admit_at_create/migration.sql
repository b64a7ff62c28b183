-- createRender in fewer round trips, and admission at creation (apps/gateway/src/renders,
-- RenderRepository.createQueued). When nothing waits in Postgres anywhere and there is room,
-- an admission pass would admit the new render at once; createQueued now does that itself, in
-- the creating transaction, under the admitter's lock (the same advisory lock key as
-- RenderDispatchRepository.admit). It needs two figures across tenants — whether any render
-- waits, and how many are in flight — so this function is SECURITY DEFINER like 0005's: owner
-- likeness_platform, fixed search_path, callable by likeness_app only, no tenant identified.
--
-- try_lock true: it tries the admitter's lock without waiting; held (another replica admitting,
-- or another create holding it) → (false, false, 0): the render waits for the next pass. Got it
-- → (true, the figures), read by queries that run after the lock is held (plpgsql, VOLATILE:
-- each query takes a new snapshot), and the lock stays held until the creating transaction
-- ends, so no pass or other creation can admit in between.
-- try_lock false: no lock, (false, the figures as of now). An admission pass asks this first and
-- does not take the lock when nothing waits (a render queued later kicks its own pass), so the
-- passes that follow every finished render do not keep creations from admitting.

CREATE FUNCTION likeness_render_admission_load(try_lock boolean)
RETURNS TABLE (locked boolean, waiting boolean, in_flight integer)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
BEGIN
  IF likeness_render_admission_load.try_lock AND NOT pg_try_advisory_xact_lock(7310524105) THEN
    RETURN QUERY SELECT false, false, 0;
    RETURN;
  END IF;
  RETURN QUERY SELECT likeness_render_admission_load.try_lock,
    EXISTS (SELECT 1 FROM renders WHERE status = 'QUEUED' AND admitted_at IS NULL),
    (SELECT count(*)::integer FROM renders
      WHERE admitted_at IS NOT NULL AND status IN ('QUEUED', 'RUNNING', 'ENCODING'));
END
$$;

ALTER FUNCTION likeness_render_admission_load(boolean) OWNER TO likeness_platform;
REVOKE ALL ON FUNCTION likeness_render_admission_load(boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION likeness_render_admission_load(boolean) TO likeness_app;
