//! Idempotency keys: claimed atomically across nodes, answered again from the stored response (sealed when the store has a main key).
