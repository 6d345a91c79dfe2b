//! GA4 unit tests.
