//! The reference router.

mod basic;

pub use basic::BasicRouter;
