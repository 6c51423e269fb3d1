-- Weft schema v3: cluster membership. Every node of a cluster (every `weft serve` on this
-- database) renews its row; a node whose heartbeat is older than the expiry is gone, and the
-- others drop the presence (awareness) of its clients.
CREATE TABLE nodes (
    id           TEXT PRIMARY KEY,
    started_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
