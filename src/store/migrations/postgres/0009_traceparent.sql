-- The W3C traceparent of a message's publish, while traces are exported: its attempts continue that trace on
-- whichever node makes them.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS traceparent TEXT;
