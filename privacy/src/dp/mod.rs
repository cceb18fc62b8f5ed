//! Differential-privacy noise (being written).
