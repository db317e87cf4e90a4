//! callcore-media: under construction.
