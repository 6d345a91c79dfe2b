//! # spec-tests
//!
//! The conformance suite for destination-kit destinations: canonical fixtures for every specced
//! event, a mock-partner toolkit on wiremock, and the checks a destination must pass.

pub mod fixtures;
pub mod mock;
