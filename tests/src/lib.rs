//! Harness for the end-to-end tests and the demo: moto with its EC2 gaps filled, a Lambda
//! runtime API, the function binaries run as Lambda runs them, and a seeded world.

pub mod events;
pub mod function;
pub mod lambda_api;
pub mod moto;
pub mod runtime_api;
pub mod template;
pub mod world;
