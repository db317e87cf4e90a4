//! Service levels per channel and notification schedules, through the
//! running premise center and its web API, against real peers:
//!
//! - mail-devel (SMTP + IMAP): the `support` queue's e-mail target is 1 s
//!   counted in business hours, and today is a holiday of the queue; a mail
//!   waits about 2 s for the agent, yet it met its target (no business time
//!   went by) while the queue's own 20 s figure counts it too; the
//!   `queue_service` report shows it under `channels.email`.
//! - smpp34 (SMPP 3.4): three `[[notifications]]` runs — one starting
//!   tomorrow (scheduled, nothing sent), one allowed only on other days
//!   (waiting until the next one), one starting 10 s from now in the tenant's
//!   zone (Asia/Shanghai): its first text reaches the message centre no
//!   sooner, an opted-out number is skipped, an e-mail lead without `[email]`
//!   fails — and `GET /api/v1/reports/notifications` reports each run, in
//!   total and per channel.
//!
//! Skipped with a notice without the venv, unless `CALLCORE_REQUIRE_PEERS=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods)]

#[path = "channels_support/mod.rs"]
mod peers;
#[path = "call_support/mod.rs"]
mod support;
#[path = "web_support/mod.rs"]
mod web;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use callcore::{Channel, ChannelServiceLevel, EventKind, WorkingHours, WorkingSpan};
use callcore_premise::Premise;
use support::{config, data_dir, wait_for};
use web::{http, login};

const SUPERVISOR: &str =
    "[[users]]\nid = \"boss\"\npassword = \"boss-1234\"\nrole = \"supervisor\"\n";

fn now_secs() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// Civil date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `secs` (Unix) as a local "YYYY-MM-DDTHH:MM:SS" at `offset_h` hours east.
fn local(secs: i64, offset_h: i64) -> String {
    let s = secs + offset_h * 3600;
    let (y, m, d) = civil(s.div_euclid(86_400));
    let t = s.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_is_measured_against_its_target_in_business_hours() {
    let Some(python) = peers::python_with("mail_devel", "the e-mail service level test") else {
        return;
    };
    let mail = peers::MailServer::start(python).await;
    let dir = data_dir("email-sla");
    let extra = format!(
        "[[agents]]\nid = \"2001\"\nname = \"Alice\"\npassword = \"alice-2001\"\n\
         contact = \"sip:2001@127.0.0.1:9\"\nskills = [\"support\"]\n{SUPERVISOR}\
         [email]\naddress = \"support@center.test\"\nimap = \"127.0.0.1:{}\"\n\
         smtp = \"127.0.0.1:{}\"\nuser = \"support@center.test\"\npassword = \"secret\"\n\
         queue = \"support\"\npoll_ms = 200\n",
        mail.imap, mail.smtp
    );
    let mut cfg = config(&dir, &extra);
    cfg.http.enabled = true;
    cfg.http.bind = Some("127.0.0.1:0".parse().unwrap());
    // open every day, but today (UTC) is a holiday: no business time passes
    let today = local(now_secs(), 0)[..10].to_owned();
    let support = cfg.queues.iter_mut().find(|q| q.id == "support").unwrap();
    support.service_levels = vec![
        ChannelServiceLevel {
            channel: Channel::Email,
            target_secs: 1,
            goal: Some(0.9),
            business_hours: true,
        },
        ChannelServiceLevel {
            channel: Channel::Voice,
            target_secs: 20,
            goal: Some(0.8),
            business_hours: false,
        },
    ];
    support.hours = Some(WorkingHours {
        time_zone: Some("Etc/UTC".into()),
        utc_offset_minutes: 0,
        weekly: vec![WorkingSpan {
            days: (1..=7).collect(),
            open: "00:00".into(),
            close: "24:00".into(),
        }],
        holidays: vec![today],
    });
    let premise = Premise::start(cfg).await.unwrap();
    let addr = premise.http_addr().unwrap();
    let mut events = premise.center().subscribe();
    let agent = login(addr, "2001", "alice-2001").await;
    let boss = login(addr, "boss", "boss-1234").await;

    let started = Instant::now();
    mail.send(
        "ann@example.org",
        "support@center.test",
        "From: Ann <ann@example.org>\r\nTo: support@center.test\r\nSubject: Refund\r\n\
         Message-ID: <sla-1@example.org>\r\n\r\nWhere is my refund?\r\n",
    )
    .await;
    let reservation = wait_for(&mut events, 20, "the e-mail offered", |k| match k {
        EventKind::Offered { reservation, .. } => Some(reservation.clone()),
        _ => None,
    })
    .await;
    // the agent takes 2 s more: past the target in wall-clock time
    tokio::time::sleep(Duration::from_secs(2)).await;
    let r = http(
        addr,
        "POST",
        &format!("/api/v1/offers/{reservation}/accept"),
        Some(&agent),
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(started.elapsed() > Duration::from_secs(2));

    let from = (now_secs() - 3600) * 1000;
    let to = (now_secs() + 60) * 1000;
    let path = format!("/api/v1/reports/queue_service?interval=day&from={from}&to={to}");
    let mut email = serde_json::Value::Null;
    for _ in 0..100 {
        let r = http(addr, "GET", &path, Some(&boss), None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let report = r.json();
        let rows = report["rows"].as_array().cloned().unwrap_or_default();
        if let Some(row) = rows.iter().find(|r| {
            r["dimension"]["queue"] == "support" && r["channels"]["email"]["answered"] == 1
        }) {
            // the queue's own figures are still there
            assert_eq!(row["figures"]["counters"]["answered"], 1, "{row}");
            email = row["channels"]["email"].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(email["target_secs"], 1, "{email}");
    assert_eq!(email["business_hours"], true);
    assert_eq!(email["offered"], 1);
    assert_eq!(
        email["answered_within_target"], 1,
        "no business time went by on a holiday: {email}"
    );
    assert_eq!(email["service_level"], 1.0);
    assert_eq!(email["goal_met"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_runs_keep_their_schedules_and_report_per_channel() {
    let Some(python) = peers::python_with("smpp34", "the notification schedule test") else {
        return;
    };
    let smsc = peers::Smsc::start(python).await;
    let dir = data_dir("notify-schedule");
    std::fs::write(dir.join("sms-opt-outs.txt"), "out +4915550032\n").unwrap();
    let leads = dir.join("leads.csv");
    std::fs::write(
        &leads,
        "phone,email,name,channel\n\
         +4915550031,,Ann,\n\
         +4915550032,,Bob,sms\n\
         ,cy@example.org,Cy,email\n",
    )
    .unwrap();
    let now = now_secs();
    // Shanghai is UTC+8 all year
    let tomorrow = format!("{}T09:00", &local(now + 86_400, 8)[..10]);
    let soon = local(now + 10, 8);
    let today_weekday = ((now + 8 * 3600).div_euclid(86_400) + 3).rem_euclid(7) + 1;
    let other_days: Vec<String> = (1..=7)
        .filter(|d| *d != today_weekday)
        .map(|d| d.to_string())
        .collect();
    let section = |name: &str, schedule: &str| {
        format!(
            "[[notifications]]\nname = \"{name}\"\nleads = \"{}\"\nper_second = 20\n\
             time_zone = \"Asia/Shanghai\"\n{schedule}\n\
             template = \"Hi {{name}}, your parcel comes today. Reply STOP to opt out.\"\n\
             subject = \"Your parcel\"\n",
            leads.display()
        )
    };
    let extra = format!(
        "{SUPERVISOR}[sms]\nsmsc = \"127.0.0.1:{}\"\nsystem_id = \"callcore\"\n\
         password = \"secret\"\nsource_addr = \"12345\"\nqueue = \"support\"\n\
         max_per_second = 50\n{}{}{}",
        smsc.port,
        section("tomorrow", &format!("start_at = \"{tomorrow}\"")),
        section(
            "other_days",
            &format!(
                "allowed_hours = [{{ days = [{}], open = \"00:00\", close = \"24:00\" }}]",
                other_days.join(", ")
            )
        ),
        section("soon", &format!("start_at = \"{soon}\"")),
    );
    let mut cfg = config(&dir, &extra);
    cfg.http.enabled = true;
    cfg.http.bind = Some("127.0.0.1:0".parse().unwrap());
    let premise = Premise::start(cfg).await.unwrap();
    let addr = premise.http_addr().unwrap();
    let boss = login(addr, "boss", "boss-1234").await;
    let reports = || async {
        let r = http(
            addr,
            "GET",
            "/api/v1/reports/notifications",
            Some(&boss),
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["runs"].as_array().cloned().unwrap()
    };

    // before `soon` starts: every run waits, nothing was sent
    let runs = reports().await;
    assert_eq!(runs.len(), 3, "{runs:?}");
    let run = |runs: &[serde_json::Value], name: &str| {
        runs.iter().find(|r| r["name"] == name).cloned().unwrap()
    };
    let tomorrow_run = run(&runs, "tomorrow");
    assert_eq!(tomorrow_run["state"], "scheduled", "{tomorrow_run}");
    assert_eq!(tomorrow_run["time_zone"], "Asia/Shanghai");
    let starts_ms = tomorrow_run["waiting_until_ms"].as_i64().unwrap();
    assert!(starts_ms > now * 1000 && starts_ms <= (now + 2 * 86_400) * 1000);
    assert_eq!(tomorrow_run["totals"]["pending"], 3);
    let other = run(&runs, "other_days");
    assert_eq!(other["state"], "waiting", "{other}");
    assert_eq!(
        other["waiting_until_ms"].as_i64().unwrap() % 86_400_000,
        16 * 3_600_000,
        "the next local midnight in Shanghai (16:00 UTC)"
    );
    assert!(smsc.submits().is_empty(), "nothing before its time");

    // `soon` sends from its start on
    let first = smsc.wait_for("submit", 1, 40).await;
    assert!(
        now_secs() >= now + 10,
        "the first text went out no sooner than start_at"
    );
    assert_eq!(first[0]["to"], "+4915550031");
    let mut soon_run = serde_json::Value::Null;
    for _ in 0..200 {
        soon_run = run(&reports().await, "soon");
        if soon_run["state"] == "done" && soon_run["channels"]["sms"]["delivered"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(soon_run["state"], "done", "{soon_run}");
    let sms = &soon_run["channels"]["sms"];
    assert_eq!(
        (
            &sms["leads"],
            &sms["sent"],
            &sms["delivered"],
            &sms["opted_out"]
        ),
        (
            &serde_json::json!(2),
            &serde_json::json!(1),
            &serde_json::json!(1),
            &serde_json::json!(1)
        ),
        "{soon_run}"
    );
    let email = &soon_run["channels"]["email"];
    assert_eq!(
        (&email["leads"], &email["failed"]),
        (&serde_json::json!(1), &serde_json::json!(1))
    );
    assert_eq!(soon_run["totals"]["pending"], 0);
    assert_eq!(soon_run["totals"]["leads"], 3);
    // the others still wait; one text in all reached the centre
    let runs = reports().await;
    assert_eq!(run(&runs, "tomorrow")["totals"]["pending"], 3);
    assert_eq!(run(&runs, "other_days")["totals"]["pending"], 3);
    assert_eq!(smsc.submits().len(), 1);

    // not without a session
    let r = http(addr, "GET", "/api/v1/reports/notifications", None, None).await;
    assert_eq!(r.status, 401);
}
