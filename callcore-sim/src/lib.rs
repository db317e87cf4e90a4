//! callcore-sim: under construction.
