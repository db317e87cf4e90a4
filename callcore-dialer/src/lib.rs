//! callcore-dialer: under construction.
