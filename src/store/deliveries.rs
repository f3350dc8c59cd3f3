//! Deliveries and their attempts: listings, stats, dead letters, and putting deliveries back in the queue.
