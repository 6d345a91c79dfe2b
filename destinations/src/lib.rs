//! # destinations
//!
//! Real partner destinations for destination-kit, one folder each, each with a mock partner that
//! behaves like the real API. [`registry`] lists them by slug.

pub mod adobe_media;
pub mod amplitude;
pub mod braze;
pub mod ga4;
pub mod intercom;
pub mod mixpanel;
pub mod registry;
pub mod webhook;
