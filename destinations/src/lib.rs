//! # destinations
//!
//! Real partner destinations for destination-kit, one folder each, each with a mock partner that
//! behaves like the real API.
