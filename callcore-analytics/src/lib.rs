//! callcore-analytics: under construction.
