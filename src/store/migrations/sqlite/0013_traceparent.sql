-- The W3C traceparent of a message's publish, while traces are exported: its attempts continue that trace.
ALTER TABLE messages ADD COLUMN traceparent TEXT;
