//! callcore-store: under construction.
