//! Every Erlang A figure, understaffed rows included, against an independent
//! implementation (scripts/erlang-ref: closed forms with incomplete gamma
//! functions in mpmath, cross-checked by a CTMC solved with matrix
//! exponentials), written without reading this crate.

use callcore_sim::erlang::{StaffingInput, erlang_a, staffing_table};
use serde_json::Value;

fn reference() -> Vec<Value> {
    let text = include_str!("fixtures/erlang_a_reference.json");
    serde_json::from_str(text).expect("the fixture is JSON")
}

fn num(row: &Value, field: &str) -> f64 {
    row[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} in {row}"))
}

#[test]
fn every_row_matches_the_independent_erlang_a() {
    let rows = reference();
    assert_eq!(rows.len(), 67);
    let mut worst = [0.0f64; 5];
    for row in &rows {
        let agents = u32::try_from(row["agents"].as_u64().expect("agents")).expect("small");
        let ours = erlang_a(
            agents,
            num(row, "calls_per_hour"),
            num(row, "aht_secs"),
            num(row, "patience_secs"),
            num(row, "target_secs"),
        );
        let pairs = [
            (ours.p_wait, num(row, "p_wait"), 1e-6),
            (ours.p_abandon, num(row, "p_abandon"), 1e-6),
            // seconds: relative
            (
                ours.asa_secs,
                num(row, "asa_secs"),
                1e-6 * num(row, "asa_secs").max(1.0),
            ),
            (ours.service_level, num(row, "service_level"), 1e-4),
            (ours.occupancy, num(row, "occupancy"), 1e-6),
        ];
        for (i, (got, want, tolerance)) in pairs.into_iter().enumerate() {
            let diff = (got - want).abs();
            worst[i] = worst[i].max(diff);
            assert!(
                got.is_finite() && diff <= tolerance,
                "field {i} of {row}: ours {got}, reference {want}"
            );
        }
    }
    eprintln!("largest differences (p_wait, p_abandon, asa, service level, occupancy): {worst:?}");
}

#[test]
fn the_recommendation_under_overload_is_the_smallest_count_meeting_the_target() {
    // 6,000 calls/h, AHT 300 s, patience 300 s: the overloaded case.
    let rows: Vec<Value> = reference()
        .into_iter()
        .filter(|r| num(r, "calls_per_hour") == 6000.0)
        .collect();
    let table = staffing_table(&StaffingInput {
        calls_per_hour: 6000.0,
        aht_secs: 300.0,
        target_answer_secs: 20.0,
        service_level: 0.8,
        patience_secs: Some(300.0),
    })
    .expect("a table");
    let meets = |r: &&Value| num(r, "service_level") >= 0.8;
    let first_listed = rows
        .iter()
        .find(meets)
        .expect("some listed row meets 80/20");
    let last_short = rows.iter().rev().find(|r| !meets(r)).expect("a short row");
    let n = u32::try_from(first_listed["agents"].as_u64().expect("agents")).expect("small");
    let short = u32::try_from(last_short["agents"].as_u64().expect("agents")).expect("small");
    assert!(
        table.recommended > short && table.recommended <= n,
        "recommended {} not in ({short}, {n}]",
        table.recommended
    );
    for r in &table.rows {
        assert!(
            r.service_level.is_some_and(f64::is_finite) && r.p_wait <= 1.0,
            "{r:?}"
        );
    }
}
