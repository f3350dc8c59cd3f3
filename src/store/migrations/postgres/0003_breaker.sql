-- The circuit breaker: attempts failed in a row since the endpoint's last success (see engine/breaker.rs).
-- A delivery job held while an endpoint's circuit is open has jobs.leased = 2 (store::JOB_PARKED).
ALTER TABLE endpoint_failing ADD COLUMN failures BIGINT NOT NULL DEFAULT 0;
