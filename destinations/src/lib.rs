//! # destinations
//!
//! Real partner destinations for destination-kit, one folder each, each with a mock partner that
//! behaves like the real API. [`registry`] lists them by slug.

pub mod registry;
pub mod webhook;
pub mod mixpanel;
pub mod ga4;
pub mod amplitude;
pub mod braze;
pub mod intercom;
pub mod adobe_media;
