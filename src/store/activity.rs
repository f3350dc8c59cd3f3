//! The per-minute activity counts behind the charts.
