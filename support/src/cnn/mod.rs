//! The dfdx CNN (being written).
pub mod metrics;
