-- Weft schema v2: version history. Versions form chains: a base row holds a document's full
-- state, each later row the change since the row before it (a Yjs update against the previous
-- state vector), so a version costs what changed rather than the document's size.
CREATE TABLE versions (
    doc_id       BIGINT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    -- 1, 2, 3... per document, never reused.
    id           BIGINT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- auto | manual | restore
    kind         TEXT NOT NULL,
    label        TEXT,
    base         BOOLEAN NOT NULL,
    state_vector BYTEA NOT NULL,
    data         BYTEA NOT NULL,
    PRIMARY KEY (doc_id, id)
);
