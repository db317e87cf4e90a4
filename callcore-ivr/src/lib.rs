//! callcore-ivr: under construction.
