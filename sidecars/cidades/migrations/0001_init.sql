-- Cidades: storage plans, cities, cameras, the transactional outbox, and what the bus told us.

CREATE TABLE storage_plans (
    id             UUID PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    retention_days INTEGER NOT NULL CHECK (retention_days BETWEEN 1 AND 3650),
    quota_gb       BIGINT NOT NULL CHECK (quota_gb > 0),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE cities (
    id              UUID PRIMARY KEY,
    ibge_code       TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    uf              TEXT NOT NULL,
    cnpj            TEXT NOT NULL,
    storage_plan_id UUID NOT NULL REFERENCES storage_plans (id),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX cities_plan ON cities (storage_plan_id);

-- password_sealed: the password AES-256-GCM sealed under CIDADES_SECRET_KEYS, bound to the
-- camera id ({"alg","keyId","nonce","ciphertext"}, see src/crypto.rs). Never the clear password.
CREATE TABLE cameras (
    id              UUID PRIMARY KEY,
    city_id         UUID NOT NULL REFERENCES cities (id),
    name            TEXT NOT NULL,
    location        TEXT NOT NULL DEFAULT '',
    rtsp_url        TEXT NOT NULL,
    username        TEXT,
    password_sealed JSONB,
    record          BOOLEAN NOT NULL DEFAULT TRUE,
    status          TEXT NOT NULL DEFAULT 'unknown',
    status_reason   TEXT,
    status_at       TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (city_id, name),
    UNIQUE (rtsp_url)
);
CREATE INDEX cameras_city ON cameras (city_id, name);
CREATE INDEX cameras_status ON cameras (status);

-- Events written in the same transaction as the change they announce; the relay publishes
-- them in id order and sets sent_at once the broker confirmed.
CREATE TABLE outbox (
    id          BIGSERIAL PRIMARY KEY,
    event_id    TEXT NOT NULL UNIQUE,
    routing_key TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    sent_at     TIMESTAMPTZ
);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;

-- lpr.detected and alert.triggered, per city; one row per event (CloudEvents source + id), so a
-- redelivered event adds nothing.
CREATE TABLE occurrences (
    id           BIGSERIAL PRIMARY KEY,
    event_source TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    city_id     UUID NOT NULL REFERENCES cities (id) ON DELETE CASCADE,
    camera_id   UUID NOT NULL,
    kind        TEXT NOT NULL,
    detail      JSONB NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    UNIQUE (event_source, event_id)
);
CREATE INDEX occurrences_city ON occurrences (city_id, occurred_at DESC);
