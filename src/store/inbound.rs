//! Inbound events as they arrived, deduplicated by the provider's delivery id, and the counters behind a registration's health.
