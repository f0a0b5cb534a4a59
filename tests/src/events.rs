//! The sample events of `events/` and the answers functions give to them.

use serde_json::Value;

use crate::moto::workspace_root;
use crate::runtime_api::Answer;

/// A sample event from `events/`, parsed.
pub fn sample(name: &str) -> Value {
    let text = std::fs::read_to_string(workspace_root().join("events").join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The function's response; panics with its error if it failed.
pub fn response(answer: Answer) -> Value {
    match answer {
        Answer::Response(value) => value,
        Answer::Error(error) => panic!("the function failed: {error}"),
    }
}
