//! callcore-sip: under construction.
