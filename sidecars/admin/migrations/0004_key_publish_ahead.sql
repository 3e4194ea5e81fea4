-- A new signing key is published in the JWKS ahead of signing with it (MediaMTX re-reads
-- authJWTJWKS only hourly): active_from is when it starts signing; retired_at, set to its
-- successor's active_from, when it stops.
ALTER TABLE signing_keys ADD COLUMN active_from timestamptz;
UPDATE signing_keys SET active_from = created_at;
ALTER TABLE signing_keys ALTER COLUMN active_from SET NOT NULL;
