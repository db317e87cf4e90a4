//! The simulator against queueing theory, and its determinism, shifts and
//! strategy comparison.

use callcore::{AgentProfile, QueueDefinition};
use callcore_sim::erlang::{erlang_a, erlang_c_figures};
use callcore_sim::{
    AgentSpec, Arrivals, Distribution, Scenario, Shift, Span, compare_strategies, simulate,
};

#[test]
fn m_m_n_matches_erlang_c() {
    // 12 agents, 200 calls/h of 180 s: A = 10 erlangs. 150 simulated hours.
    let report = simulate(Scenario::single_queue(12, 200.0, 180.0, None, 150.0, 1)).unwrap();
    let formula = erlang_c_figures(12, 10.0, 180.0, 20.0).unwrap();
    let f = report.total;
    assert!(f.offered > 27_000, "{}", f.offered);
    assert!(
        (f.p_wait - formula.p_wait).abs() < 0.03,
        "P(wait) sim {:.4} vs Erlang C {:.4}",
        f.p_wait,
        formula.p_wait
    );
    assert!(
        (f.asa_secs - formula.asa_secs).abs() < 0.15 * formula.asa_secs,
        "ASA sim {:.1} vs Erlang C {:.1}",
        f.asa_secs,
        formula.asa_secs
    );
    assert!((f.service_level - formula.service_level).abs() < 0.03);
    assert!(
        (report.occupancy - formula.occupancy).abs() < 0.02,
        "{}",
        report.occupancy
    );
}

#[test]
fn m_m_n_plus_m_matches_erlang_a() {
    // 10 agents at A = 10 erlangs would never settle under Erlang C; with
    // patience (mean 120 s) it does.
    let report = simulate(Scenario::single_queue(
        10,
        200.0,
        180.0,
        Some(120.0),
        150.0,
        2,
    ))
    .unwrap();
    let formula = erlang_a(10, 200.0, 180.0, 120.0, 20.0);
    let f = report.total;
    assert!(
        (f.p_wait - formula.p_wait).abs() < 0.03,
        "P(wait) sim {:.4} vs Erlang A {:.4}",
        f.p_wait,
        formula.p_wait
    );
    assert!(
        (f.abandon_rate - formula.p_abandon).abs() < 0.02,
        "P(abandon) sim {:.4} vs Erlang A {:.4}",
        f.abandon_rate,
        formula.p_abandon
    );
    assert!(
        (f.mean_wait_secs - formula.asa_secs).abs() < 0.1 * formula.asa_secs,
        "mean wait sim {:.1} vs Erlang A {:.1}",
        f.mean_wait_secs,
        formula.asa_secs
    );
    assert!((f.service_level - formula.service_level).abs() < 0.03);
}

#[test]
fn same_seed_same_report_other_seed_other_report() {
    let run = |seed| simulate(Scenario::skills_day(90, 6, 4, seed)).unwrap();
    let a = run(5);
    assert_eq!(a, run(5));
    assert_ne!(a.total, run(6).total);
}

#[test]
fn agents_work_only_their_shifts_and_breaks() {
    let agent = |name: &str, start: f64, end: f64, brk: Option<(f64, f64)>| AgentSpec {
        profile: AgentProfile::new(name),
        shifts: vec![Shift {
            span: Span { start, end },
            breaks: brk
                .map(|(s, e)| Span { start: s, end: e })
                .into_iter()
                .collect(),
        }],
    };
    let mut q = QueueDefinition::new("q");
    q.max_wait_secs = Some(600);
    let scenario = Scenario {
        seed: 3,
        duration_secs: 4.0 * 3600.0,
        interval_secs: 3600,
        queues: vec![callcore_sim::QueueSpec {
            definition: q,
            arrivals: Arrivals::Profile {
                interval_secs: 3600,
                per_hour: vec![20.0, 20.0, 20.0, 20.0],
            },
            handle: Distribution::Empirical(vec![60.0, 120.0, 180.0]),
            patience: None,
            channel: callcore::Channel::Voice,
        }],
        // One agent 0–2 h with a break 1:00–1:30, one 3–4 h: nobody 2–3 h.
        agents: vec![
            agent("a", 0.0, 7200.0, Some((3600.0, 5400.0))),
            agent("b", 3.0 * 3600.0, 4.0 * 3600.0, None),
        ],
        answer_secs: 1.0,
        proficiency_effect: 0.0,
    };
    let r = simulate(scenario).unwrap();
    let hour = |i: usize| r.intervals[i];
    assert!(hour(0).answered > 10);
    // Between 2 h and 3 h nobody works: calls wait 10 minutes and time out,
    // except those still waiting when b logs in at 3 h.
    assert!(hour(2).other > 5, "{:?}", hour(2));
    assert_eq!(
        hour(2).answered + hour(2).other + hour(2).abandoned,
        hour(2).offered
    );
    assert!(r.occupancy_by_interval[2] == 0.0);
    assert!(r.occupancy_by_interval[0] > 0.2);
    // The table prints one line per interval.
    assert_eq!(r.interval_table().lines().count(), 5);
}

#[test]
fn strategies_compare_on_the_same_workload() {
    let scenario = Scenario::skills_day(150, 10, 6, 11);
    let runs =
        compare_strategies(&scenario, &["longest_idle", "best_proficiency", "random"]).unwrap();
    let offered: Vec<u64> = runs.iter().map(|(_, r)| r.total.offered).collect();
    assert!(
        offered.iter().all(|o| *o == offered[0] && *o > 1000),
        "{offered:?}"
    );
    for (name, r) in &runs {
        assert_eq!(r.queues.len(), 10, "{name}");
        assert_eq!(r.intervals.len(), 48);
        assert!(
            r.total.answered > r.total.offered / 2,
            "{name}: {:?}",
            r.total
        );
    }
    let table = callcore_sim::comparison_table(&runs);
    assert_eq!(table.lines().count(), 4);
}

#[test]
fn bad_scenarios_are_named() {
    let mut s = Scenario::single_queue(1, 10.0, 60.0, None, 1.0, 1);
    s.queues[0].handle = Distribution::Empirical(Vec::new());
    assert_eq!(
        simulate(s).unwrap_err().to_string(),
        "invalid `handle`: needs finite, non-negative values"
    );
    let s = Scenario::single_queue(1, 10.0, 60.0, None, 1.0, 1).with_strategy("psychic");
    assert!(
        simulate(s)
            .unwrap_err()
            .to_string()
            .contains("unknown strategy")
    );
}
