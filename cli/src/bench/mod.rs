//! Pieces of `destkit bench`: the event generator and the local partner.

pub mod generate;
pub mod sink;
