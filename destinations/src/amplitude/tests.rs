//! Amplitude unit tests.
