//! Timers: a row and one job in the due-time queue each.
