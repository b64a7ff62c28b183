-- Assets: signed download URLs (GET /v1/assets/:id/content) carry only the asset id, checked
-- by the gateway with an HMAC before any database work. The gateway then needs the asset's
-- tenant, type and storage key without knowing the tenant: one narrow SECURITY DEFINER lookup
-- by primary key, like the credential lookups of 0001 (owner likeness_platform, fixed
-- search_path, callable by likeness_app only).

CREATE FUNCTION likeness_asset_for_download(asset_id uuid)
RETURNS TABLE (tenant_id uuid, mime text, bytes bigint, storage_key text, tenant_status text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
  SELECT a.tenant_id, a.mime, a.bytes, a.storage_key, t.status::text
  FROM assets a JOIN tenants t ON t.id = a.tenant_id
  WHERE a.id = likeness_asset_for_download.asset_id
$$;

ALTER FUNCTION likeness_asset_for_download(uuid) OWNER TO likeness_platform;
REVOKE ALL ON FUNCTION likeness_asset_for_download(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION likeness_asset_for_download(uuid) TO likeness_app;
