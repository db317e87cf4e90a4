//! The e-mail channel of the running premise center against a real mail
//! server (`mail-devel` from PyPI, SMTP + IMAP): a customer's mail becomes
//! an interaction of the `support` queue, is offered to an agent with e-mail
//! capacity, read and answered through the web API; the acknowledgement and
//! the reply arrive threaded in the customer's mailbox, and the customer's
//! answer joins the same conversation. Automatic mail is never answered;
//! malformed MIME and an oversize attachment are refused, each with a log
//! line, and the valid mail around them still arrives.
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

use std::time::Duration;

use callcore::{EventKind, InteractionId, ReservationId};
use callcore_premise::Premise;
use support::{config, data_dir, wait_for};
use web::{http, login};

const CUSTOMER: &str = "ann@example.org";

fn mail(from: &str, id: &str, extra: &str, body: &str) -> String {
    format!(
        "From: Ann <{from}>\r\nTo: support@center.test\r\nSubject: My order\r\n\
         Message-ID: <{id}>\r\n{extra}\r\n{body}\r\n"
    )
}

async fn start(mail: &peers::MailServer, name: &str) -> Premise {
    let dir = data_dir(name);
    let extra = format!(
        "[[agents]]\nid = \"2001\"\nname = \"Alice\"\npassword = \"alice-2001\"\n\
         contact = \"sip:2001@127.0.0.1:9\"\nskills = [\"support\"]\n\
         [email]\naddress = \"support@center.test\"\nimap = \"127.0.0.1:{}\"\n\
         smtp = \"127.0.0.1:{}\"\nuser = \"support@center.test\"\npassword = \"secret\"\n\
         queue = \"support\"\npoll_ms = 200\nmax_attachment_bytes = 2048\n\
         acknowledgement = \"We received your message and will answer soon.\"\n",
        mail.imap, mail.smtp
    );
    let mut cfg = config(&dir, &extra);
    cfg.http.enabled = true;
    cfg.http.bind = Some("127.0.0.1:0".parse().unwrap());
    Premise::start(cfg).await.unwrap()
}

/// The next offer of an e-mail interaction: its id and reservation.
async fn offered(events: &mut callcore_runtime::EventSubscriber) -> (InteractionId, ReservationId) {
    wait_for(events, 20, "an e-mail offered", |k| match k {
        EventKind::Offered {
            interaction,
            reservation,
            ..
        } => Some((interaction.clone(), reservation.clone())),
        _ => None,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_reaches_an_agent_and_the_reply_arrives_threaded() {
    let Some(python) = peers::python_with("mail_devel", "the e-mail channel test") else {
        return;
    };
    let mail_server = peers::MailServer::start(python).await;
    let premise = start(&mail_server, "email-e2e").await;
    let addr = premise.http_addr().unwrap();
    let mut events = premise.center().subscribe();
    let agent = login(addr, "2001", "alice-2001").await;

    mail_server
        .send(
            CUSTOMER,
            "support@center.test",
            &mail(CUSTOMER, "c1@example.org", "", "Where is my order 42?"),
        )
        .await;
    let (id, reservation) = offered(&mut events).await;
    // an e-mail is taken on the desktop: the agent's phone is not rung
    let r = http(
        addr,
        "POST",
        &format!("/api/v1/offers/{reservation}/accept"),
        Some(&agent),
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    wait_for(&mut events, 10, "connected", |k| {
        matches!(k, EventKind::Connected { interaction, .. } if *interaction == id).then_some(())
    })
    .await;
    let path = format!("/api/v1/interactions/{id}/messages");
    let list = http(addr, "GET", &path, Some(&agent), None).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let messages = list.json()["messages"].as_array().unwrap().clone();
    assert_eq!(messages[0]["direction"], "inbound");
    assert!(messages[0]["text"].as_str().unwrap().contains("order 42"));
    assert_eq!(messages[0]["subject"], "My order");

    // the acknowledgement reached the customer, marked automatic, threaded
    let inbox = mail_server.wait_mailbox(CUSTOMER, 1, 10).await;
    assert_eq!(inbox[0]["auto_submitted"], "auto-replied", "{inbox:?}");
    assert_eq!(inbox[0]["in_reply_to"], "<c1@example.org>");

    // bad input: an empty reply names the field
    let r = http(addr, "POST", &path, Some(&agent), Some(r#"{"text":"  "}"#)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"]["field"], "text");

    let r = http(
        addr,
        "POST",
        &path,
        Some(&agent),
        Some(r#"{"text":"Your order ships tomorrow."}"#),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let inbox = mail_server.wait_mailbox(CUSTOMER, 2, 10).await;
    let reply = &inbox[1];
    assert_eq!(reply["subject"], "Re: My order");
    assert_eq!(reply["in_reply_to"], "<c1@example.org>");
    assert!(
        reply["references"]
            .as_str()
            .unwrap()
            .contains("<c1@example.org>"),
        "{reply:?}"
    );
    assert_eq!(reply["auto_submitted"], "");
    assert!(reply["text"].as_str().unwrap().contains("ships tomorrow"));

    // the customer answers the reply: it joins the same conversation
    let their_reply_to = reply["message_id"].as_str().unwrap().to_owned();
    mail_server
        .send(
            CUSTOMER,
            "support@center.test",
            &mail(
                CUSTOMER,
                "c2@example.org",
                &format!("In-Reply-To: {their_reply_to}\r\nReferences: <c1@example.org> {their_reply_to}\r\n"),
                "Thanks! Can you send it by express?",
            ),
        )
        .await;
    let mut joined = false;
    for _ in 0..100 {
        let list = http(addr, "GET", &path, Some(&agent), None).await;
        let texts: Vec<String> = list.json()["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["text"].as_str().unwrap_or("").to_owned())
            .collect();
        if texts.iter().any(|t| t.contains("express")) {
            joined = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(joined, "the customer's answer joined the conversation");
    // and was neither acknowledged again nor offered as a new interaction
    let r = http(
        addr,
        "POST",
        &path,
        Some(&agent),
        Some(r#"{"text":"Done, express it is.","close":true}"#),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    wait_for(&mut events, 10, "ended", |k| {
        matches!(k, EventKind::Ended { interaction, .. } if *interaction == id).then_some(())
    })
    .await;
    let inbox = mail_server.wait_mailbox(CUSTOMER, 3, 10).await;
    assert_eq!(
        inbox.len(),
        3,
        "one acknowledgement, two replies: {inbox:?}"
    );
    assert_eq!(inbox[2]["in_reply_to"], "<c2@example.org>");
    // a closed conversation takes no more replies
    let r = http(
        addr,
        "POST",
        &path,
        Some(&agent),
        Some(r#"{"text":"late"}"#),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let (routed, automatic, refused) = premise.email_counters().unwrap().counts();
    assert_eq!((routed, automatic, refused), (2, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_and_malformed_mail_is_never_answered_and_valid_mail_around_it_arrives() {
    let Some(python) = peers::python_with("mail_devel", "the e-mail bad-input test") else {
        return;
    };
    let mail_server = peers::MailServer::start(python).await;
    let premise = start(&mail_server, "email-bad").await;
    let mut events = premise.center().subscribe();

    let vacation = "bob@example.org";
    let daemon = "mailer-daemon@example.org";
    // 4000 bytes in SMTP-sized lines
    let big = format!("{}\r\n", "x".repeat(78)).repeat(50);
    let batch = [
        (
            CUSTOMER,
            mail(CUSTOMER, "v1@example.org", "", "first valid"),
        ),
        (
            vacation,
            mail(
                vacation,
                "a1@example.org",
                "Auto-Submitted: auto-replied\r\n",
                "I am away",
            ),
        ),
        (
            daemon,
            format!(
                "From: {daemon}\r\nTo: support@center.test\r\nSubject: Undelivered\r\nMessage-ID: <d1@example.org>\r\n\
                 Content-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\r\n\r\n\
                 --r\r\nContent-Type: text/plain\r\n\r\nDelivery failed\r\n\
                 --r\r\nContent-Type: message/delivery-status\r\n\r\nStatus: 5.1.1\r\n--r--\r\n"
            ),
        ),
        (
            CUSTOMER,
            format!(
                "From: {CUSTOMER}\r\nTo: support@center.test\r\nSubject: broken\r\nMessage-ID: <m1@example.org>\r\n\
                 Content-Type: multipart/mixed\r\n\r\nno boundary anywhere\r\n"
            ),
        ),
        (
            CUSTOMER,
            format!(
                "From: {CUSTOMER}\r\nTo: support@center.test\r\nSubject: big\r\nMessage-ID: <b1@example.org>\r\n\
                 Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee file\r\n\
                 --b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"big.bin\"\r\n\r\n{big}--b--\r\n"
            ),
        ),
        (
            "cy@example.org",
            mail("cy@example.org", "v2@example.org", "", "second valid"),
        ),
    ];
    for (from, raw) in &batch {
        mail_server.send(from, "support@center.test", raw).await;
    }
    // the two valid mails become interactions, in order
    let mut created = Vec::new();
    while created.len() < 2 {
        let id = wait_for(&mut events, 20, "an e-mail interaction", |k| match k {
            EventKind::InteractionCreated { interaction } => Some(interaction.id.clone()),
            _ => None,
        })
        .await;
        created.push(id);
    }
    let inbox = premise.email_inbox().unwrap();
    let first = inbox.messages(&created[0]).unwrap();
    let second = inbox.messages(&created[1]).unwrap();
    assert!(first[0].text.contains("first valid"));
    assert!(second[0].text.contains("second valid"));
    let counters = premise.email_counters().unwrap();
    for _ in 0..100 {
        if counters.counts() == (2, 2, 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(counters.counts(), (2, 2, 2), "routed, automatic, refused");
    let refusals = counters.refusals.lock().unwrap().clone();
    assert!(
        refusals[0].contains("mime") && refusals[0].contains("boundary"),
        "{refusals:?}"
    );
    assert!(
        refusals[1].contains("attachment") && refusals[1].contains("2048"),
        "{refusals:?}"
    );
    // nothing went to the robots; the valid customers got their acknowledgement
    assert!(mail_server.mailbox(vacation).await.is_empty());
    assert!(mail_server.mailbox(daemon).await.is_empty());
    let acks = mail_server.wait_mailbox("cy@example.org", 1, 10).await;
    assert_eq!(acks.len(), 1);
    let ann = mail_server.wait_mailbox(CUSTOMER, 1, 10).await;
    assert_eq!(
        ann.len(),
        1,
        "one acknowledgement, none for refused mail: {ann:?}"
    );
}
