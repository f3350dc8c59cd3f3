-- Payload retention (Svix's payloadRetentionPeriod, 90 days by default): when the retention job may expunge a
-- message's payload. Messages stored before this migration get the default from their creation.
ALTER TABLE messages ADD COLUMN payload_expires_at INTEGER NOT NULL DEFAULT 0;
UPDATE messages SET payload_expires_at = created_at + 7776000000;
-- Only payloads still held are indexed: the job's scan shrinks as it works.
CREATE INDEX messages_payload_expiry ON messages (payload_expires_at) WHERE payload IS NOT NULL;
