//! The inbound face (seed 002): tenants register webhooks for their providers; hookd verifies what arrives,
//! normalises it, deduplicates it, and forwards matching events through the engine to an outbound application.

pub mod providers;
