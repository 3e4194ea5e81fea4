-- Admin: users, roles per city, cameras per city (the paths tokens grant), signing keys
-- (private keys sealed with ADMIN_SECRET_KEYS), refresh tokens (hashed), revoked access
-- tokens (by jti) and the audit log.

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL,
    cpf           char(11) NOT NULL,
    name          text NOT NULL,
    password_hash text NOT NULL,
    superadmin    boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_cpf_key UNIQUE (cpf)
);

CREATE TABLE roles (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    city_id uuid NOT NULL,
    role    text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    PRIMARY KEY (user_id, city_id)
);

CREATE TABLE cameras (
    path    text PRIMARY KEY,
    city_id uuid NOT NULL
);
CREATE INDEX cameras_city_id_idx ON cameras (city_id);

CREATE TABLE signing_keys (
    kid            text PRIMARY KEY,
    private_sealed jsonb NOT NULL,
    public_x       text NOT NULL,
    public_y       text NOT NULL,
    created_at     timestamptz NOT NULL,
    retired_at     timestamptz
);

CREATE TABLE refresh_tokens (
    hash       bytea PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);

CREATE TABLE revoked_access (
    jti        uuid PRIMARY KEY,
    expires_at timestamptz NOT NULL
);

CREATE TABLE audit (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    user_id    uuid,
    email      text,
    action     text NOT NULL,
    path       text NOT NULL,
    protocol   text NOT NULL,
    ip         text NOT NULL,
    session_id text,
    allowed    boolean NOT NULL,
    reason     text
);
CREATE INDEX audit_path_at_idx ON audit (path, at);
