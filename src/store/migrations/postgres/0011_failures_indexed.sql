-- An endpoint's dead letters and its failed attempts are read through indexes that hold only those rows: a
-- failure costs an index entry, a success nothing, and listing them takes the same time whatever the endpoint's
-- history holds.
CREATE INDEX deliveries_endpoint_failed ON deliveries (endpoint_id, msg_id) WHERE failed_at IS NOT NULL;
CREATE INDEX attempts_endpoint_failed ON attempts (endpoint_id, id) WHERE status = 2;
