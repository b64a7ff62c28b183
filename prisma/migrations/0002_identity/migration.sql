-- Identity (login, sessions): a session lookup also returns the tenant summary (name, plan),
-- so authenticating a session token takes one round trip, like an API key does.
-- The return type changes, hence DROP + CREATE; owner and grants as in 0001.

DROP FUNCTION likeness_authenticate_session(text);

CREATE FUNCTION likeness_authenticate_session(token_hash text)
RETURNS TABLE (
  session_id uuid, user_id uuid, expires_at timestamptz, revoked_at timestamptz,
  email text, role text, tenant_id uuid, tenant_status text, tenant_name text, tenant_plan text
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
  SELECT s.id, u.id, s.expires_at, s.revoked_at, u.email, u.role::text, u.tenant_id,
         t.status::text, t.name, t.plan
  FROM sessions s JOIN users u ON u.id = s.user_id LEFT JOIN tenants t ON t.id = u.tenant_id
  WHERE s.token_hash = likeness_authenticate_session.token_hash
$$;

ALTER FUNCTION likeness_authenticate_session(text) OWNER TO likeness_platform;
REVOKE ALL ON FUNCTION likeness_authenticate_session(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION likeness_authenticate_session(text) TO likeness_app;
