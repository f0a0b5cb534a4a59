//! What several flow-test files share; each test file uses its part.
#![allow(dead_code, unused_imports)]

pub mod agent_world;
pub mod reconcile_world;
pub mod sweeps;
