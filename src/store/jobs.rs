//! The due-time queue's reads: when work is next due, and its figures for /metrics (claiming is the backends' own).
