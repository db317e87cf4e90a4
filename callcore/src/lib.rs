//! callcore core (being built)
