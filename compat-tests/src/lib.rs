//! Shared helpers for the compat tests.
