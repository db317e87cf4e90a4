//! Flow files and builder flows are checked before they run; errors name the
//! node and the field.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use callcore::Timestamp;
use callcore_ivr::flow::sim::{CallerStep, SimWorld, run_scripted};
use callcore_ivr::flow::{
    BranchRule, Condition, FlowBuilder, FlowChannel, FlowEnd, FlowSpec, MenuChoice, Node,
};

fn error_of(json: &str) -> String {
    FlowSpec::from_json(json).unwrap_err().to_string()
}

#[test]
fn unknown_targets_name_node_and_field() {
    let e = error_of(
        r#"{"name": "f", "start": "a", "nodes": {
            "a": {"type": "menu", "prompt": "p", "choices": [{"key": "1", "label": "x", "next": "b"}, {"key": "2", "label": "y", "next": "nowhere"}], "on_failure": "b"},
            "b": {"type": "hangup"}}}"#,
    );
    assert!(
        e.contains("nodes.a.choices[1].next") && e.contains("nowhere"),
        "{e}"
    );
    let e = error_of(r#"{"name": "f", "start": "missing", "nodes": {"a": {"type": "hangup"}}}"#);
    assert!(e.contains("start"), "{e}");
}

#[test]
fn unreachable_nodes_and_loops_without_exit_are_refused() {
    let e = error_of(
        r#"{"name": "f", "start": "a", "nodes": {
            "a": {"type": "hangup"}, "orphan": {"type": "say", "text": "t", "next": "a"}}}"#,
    );
    assert!(
        e.contains("nodes.orphan") && e.contains("unreachable"),
        "{e}"
    );
    let e = error_of(
        r#"{"name": "f", "start": "a", "nodes": {
            "a": {"type": "say", "text": "one", "next": "b"},
            "b": {"type": "set", "var": "x", "value": "1", "next": "a"}}}"#,
    );
    assert!(e.contains("loop without exit"), "{e}");
}

#[test]
fn unknown_node_types_and_fields_are_parse_errors_with_a_position() {
    let e = error_of(r#"{"name": "f", "start": "a", "nodes": {"a": {"type": "dance"}}}"#);
    assert!(e.contains("line 1") && e.contains("dance"), "{e}");
    let e = error_of(
        r#"{"name": "f", "start": "a", "nodes": {"a": {"type": "hangup", "mesage": "typo"}}}"#,
    );
    assert!(e.contains("mesage"), "{e}");
}

#[test]
fn node_level_checks() {
    let e = error_of(
        r#"{"name": "f", "start": "a", "nodes": {
            "a": {"type": "collect_digits", "prompt": "p", "var": "v", "min": 5, "max": 4, "next": "b", "on_failure": "b"},
            "b": {"type": "hangup"}}}"#,
    );
    assert!(e.contains("nodes.a.max"), "{e}");
    let e = error_of(
        r#"{"name": "f", "start": "a", "nodes": {
            "a": {"type": "menu", "prompt": "p", "choices": [{"key": "1", "label": "x", "next": "b"}, {"key": "1", "label": "y", "next": "b"}], "on_failure": "b"},
            "b": {"type": "hangup"}}}"#,
    );
    assert!(e.contains("nodes.a.choices[1].key"), "{e}");
    let e = error_of(
        r#"{"name": "f", "start": "a", "hours": {"utc_offset_minutes": 0, "weekly": [{"days": [8], "open": "09:00", "close": "17:00"}], "after_hours": "a"},
            "nodes": {"a": {"type": "hangup"}}}"#,
    );
    assert!(e.contains("hours.weekly[0].days"), "{e}");
}

#[test]
fn toml_flow_files_load() {
    let flow = FlowSpec::from_toml(
        r#"
        name = "toml_flow"
        start = "hello"

        [nodes.hello]
        type = "say"
        text = "Hello from TOML."
        next = "bye"

        [nodes.bye]
        type = "hangup"
        "#,
    )
    .unwrap();
    let r = run_scripted(
        Arc::new(flow),
        FlowChannel::Voice,
        BTreeMap::new(),
        Timestamp::from_secs(0),
        vec![],
        &SimWorld::default(),
    );
    assert_eq!(r.said(), ["Hello from TOML."]);
    assert_eq!(r.end(), Some(&FlowEnd::HungUp));
    let e = FlowSpec::from_toml("name = 1").unwrap_err().to_string();
    assert!(e.contains("toml"), "{e}");
}

#[test]
fn builder_flows_run_like_files() {
    let flow = FlowBuilder::new("built", "menu")
        .menu(
            "menu",
            "Main menu.",
            vec![
                MenuChoice::new("1", "sales", "sales").words(["buy", "sales"]),
                MenuChoice::new("2", "support", "support"),
            ],
            "bye",
        )
        .say("sales", "Sales it is.", "bye")
        .transfer("support", "sip:support@example.com")
        .hangup("bye", Some("Bye."))
        .global_command(["operator"], ["0"], "support")
        .build()
        .unwrap();
    let run = |script| {
        run_scripted(
            Arc::new(flow.clone()),
            FlowChannel::Voice,
            BTreeMap::new(),
            Timestamp::from_secs(0),
            script,
            &SimWorld::default(),
        )
    };
    let r = run(vec![CallerStep::say("I want to buy something")]);
    assert_eq!(
        r.said(),
        [
            "Main menu. For sales, press 1. For support, press 2.",
            "Sales it is.",
            "Bye."
        ]
    );
    let r = run(vec![CallerStep::press("0")]);
    assert_eq!(
        r.end(),
        Some(&FlowEnd::Transferred("sip:support@example.com".into()))
    );
    // A builder flow with a dangling target does not build.
    let e = FlowBuilder::new("bad", "a")
        .say("a", "x", "b")
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("nodes.a.next"), "{e}");
}

#[test]
fn a_flow_that_circles_without_waiting_is_stopped() {
    // Valid (the hang-up is reachable) but the branch never takes it.
    let flow = FlowBuilder::new("circle", "check")
        .node(
            "check",
            Node::Branch {
                rules: vec![BranchRule {
                    when: Condition::Var {
                        name: "x".into(),
                        equals: Some("done".into()),
                    },
                    next: "bye".into(),
                }],
                otherwise: "again".into(),
            },
        )
        .set("again", "x", "not yet", "check")
        .hangup("bye", None)
        .build()
        .unwrap();
    let r = run_scripted(
        Arc::new(flow),
        FlowChannel::Voice,
        BTreeMap::new(),
        Timestamp::from_secs(0),
        vec![],
        &SimWorld::default(),
    );
    assert_eq!(r.end(), Some(&FlowEnd::Runaway));
}
