//! What the flows log, in the JSON format the functions' log groups receive: every event of a
//! recovery carries its incident and Outpost (the `incident` span), and each instance's launch
//! its instance (the `instance` span), so that one Logs Insights query on `span.incident`
//! shows an incident from the alarm to the notice.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autorestart_core::settings::Mode;
use autorestart_testkit::InMemoryAws;

mod support;
use support::agent_world::*;

/// Where the subscriber writes: lines kept for the test to read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    /// Every line, parsed: each must be one JSON object.
    fn events(&self) -> Vec<serde_json::Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }
}

#[tokio::test]
async fn every_event_of_a_recovery_carries_its_incident_and_each_launch_its_instance() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let aws = InMemoryAws::new(world(), Duration::ZERO);
    let report = handle(&aws, Mode::Recover, &down()).await.unwrap();
    let incident = report.incident.as_ref().unwrap().to_string();

    let events = captured.events();
    let in_incident: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["span"]["name"] == "incident" || spans(e).any(|s| s["name"] == "incident"))
        .collect();
    assert!(
        in_incident.len() >= 4,
        "the recovery logs inside its incident span: {events:#?}"
    );
    for event in &in_incident {
        let span = spans(event).find(|s| s["name"] == "incident").unwrap();
        assert_eq!(span["incident"], incident.as_str(), "{event}");
        assert_eq!(span["outpost"], "op-0aaaaaaaaaaaaaaa1", "{event}");
    }
    let message = |e: &serde_json::Value| {
        e["fields"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        in_incident
            .iter()
            .any(|e| message(e) == "notification published"),
        "from the alarm to the notice: {in_incident:#?}"
    );
    let launches: Vec<&&serde_json::Value> = in_incident
        .iter()
        .filter(|e| message(e) == "launching")
        .collect();
    assert!(!launches.is_empty(), "{in_incident:#?}");
    for launch in launches {
        let instance = spans(launch).find(|s| s["name"] == "instance").unwrap();
        assert_eq!(
            instance["instance"], launch["fields"]["instance"],
            "{launch}"
        );
    }
}

/// The spans an event was logged in, outermost first.
fn spans(event: &serde_json::Value) -> impl Iterator<Item = &serde_json::Value> {
    event["spans"].as_array().into_iter().flatten()
}
