-- The dashboard's queries, each a range scan however many messages the store holds (see store::Store::activity
-- and store::Store::message_search): charts count an organization's or an endpoint's rows of a time window from
-- covering indexes; the message search pages an application's messages by time and event type; a search by
-- delivery status walks only the deliveries not (yet) delivered, which the partial index keeps.
CREATE INDEX messages_org_time ON messages (org_id, created_at);
CREATE INDEX messages_app_time ON messages (app_id, created_at, id);
CREATE INDEX messages_app_type_time ON messages (app_id, event_type, created_at, id);
CREATE INDEX attempts_org_time ON attempts (org_id, created_at, status);
CREATE INDEX attempts_endpoint_time ON attempts (org_id, endpoint_id, created_at, status);
CREATE INDEX deliveries_unsettled ON deliveries (app_id, status, msg_id) WHERE status <> 0;
