//! callcore-acd: under construction.
