//! Scenario tests of the call state machine.
