-- Avatars (apps/gateway/src/avatars): the precise failure of a preparation (reason code in
-- failure_reason, the message and the faces found beside it), tombstones for avatars deleted
-- while finished renders still point at them, the HNSW index for the 128-d embeddings of the
-- reference pack's identity encoder, and one narrow SECURITY DEFINER function for the sweeper
-- that re-enqueues preparations whose queue job was lost (it must look across tenants).

ALTER TABLE avatars
  ADD COLUMN failure_message text,
  ADD COLUMN failure_faces   jsonb,
  ADD COLUMN deleted_at      timestamptz(3);

-- The sweeper's scan: PROCESSING avatars by age (partial: READY/FAILED rows are the bulk).
CREATE INDEX avatars_processing_updated_at_idx ON avatars (updated_at) WHERE status = 'PROCESSING';

-- similarAvatars relies on pgvector 0.8's iterative index scans (`hnsw.iterative_scan`), so
-- that filtering by tenant after the HNSW scan cannot return fewer rows than asked for.
DO $$
BEGIN
  IF (SELECT string_to_array(extversion, '.')::int[] FROM pg_extension WHERE extname = 'vector')
     < ARRAY[0, 8] THEN
    RAISE EXCEPTION 'pgvector 0.8 or newer is needed (hnsw.iterative_scan)';
  END IF;
END
$$;

-- dlib's face-recognition ResNet (libs/model-zoo identityEncoderModel) gives 128-d embeddings;
-- same expression form as the 512-d index of 0001 (AvatarRepository.similar queries with it).
CREATE INDEX identity_embeddings_embedding_128_hnsw_idx ON identity_embeddings
  USING hnsw ((embedding::vector(128)) vector_cosine_ops) WHERE dim = 128;

-- The sweeper: PROCESSING avatars not changed since `cutoff` (oldest first, at most `max_rows`),
-- with their tenant, nothing else. Owner likeness_platform, fixed search_path, callable by
-- likeness_app only (as the functions of 0001, 0003 and 0004).
CREATE FUNCTION likeness_stale_processing_avatars(cutoff timestamptz, max_rows integer)
RETURNS TABLE (avatar_id uuid, tenant_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
  SELECT a.id, a.tenant_id
  FROM avatars a
  WHERE a.status = 'PROCESSING' AND a.deleted_at IS NULL
    AND a.updated_at <= likeness_stale_processing_avatars.cutoff
  ORDER BY a.updated_at
  LIMIT least(greatest(likeness_stale_processing_avatars.max_rows, 0), 1000)
$$;

ALTER FUNCTION likeness_stale_processing_avatars(timestamptz, integer) OWNER TO likeness_platform;
REVOKE ALL ON FUNCTION likeness_stale_processing_avatars(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION likeness_stale_processing_avatars(timestamptz, integer) TO likeness_app;
