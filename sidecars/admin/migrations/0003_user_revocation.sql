-- Revoking a user (an admin's action, or a reused refresh token) refuses every access token
-- issued before this time, beside the per-token jti denylist.
ALTER TABLE users ADD COLUMN tokens_valid_after timestamptz;
