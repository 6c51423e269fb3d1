-- Weft schema v1: documents, their append-only update log, and compacted snapshots.
CREATE TABLE documents (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Position of the last log entry ever appended (per document, commit-ordered: appends
    -- take this row's lock), so readers can catch up "after position N".
    last_seq    BIGINT NOT NULL DEFAULT 0,
    -- Size of the log not yet compacted.
    log_entries BIGINT NOT NULL DEFAULT 0,
    log_bytes   BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE updates (
    doc_id BIGINT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    seq    BIGINT NOT NULL,
    data   BYTEA  NOT NULL,
    PRIMARY KEY (doc_id, seq)
);

CREATE TABLE snapshots (
    doc_id     BIGINT PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
    -- Every log entry with seq <= upto_seq is merged into data.
    upto_seq   BIGINT NOT NULL,
    data       BYTEA  NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
