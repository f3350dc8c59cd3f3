//! Messages: published in one commit with their deliveries (the backends' hot path), read, searched and expunged here.
