//! Answered server transactions shrink to compact records that still absorb
//! retransmissions as RFC 3261 §17.2 / RFC 6026 require (virtual time; T1 = 500 ms,
//! T4 = 5 s, 64·T1 = 32 s).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use callcore_sip::message::{HeaderName, Message, Method, ResponseSpec};
use callcore_sip::transaction::{Peer, ServerState, Timers, TransactionLayer, TxId, TxOutput};

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn caller() -> Peer {
    Peer::udp("127.0.0.1:5062".parse().unwrap())
}

fn request(method: Method, branch: &str, seq: u32) -> Message {
    let mut m = Message::request(method.clone(), "sip:agent@127.0.0.1");
    m.push_header(
        HeaderName::Via,
        &format!("SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK{branch}"),
    );
    m.push_header(HeaderName::MaxForwards, "70");
    m.push_header(HeaderName::From, "<sip:caller@127.0.0.1>;tag=f1");
    m.push_header(HeaderName::To, "<sip:agent@127.0.0.1>;tag=t1");
    m.push_header(HeaderName::CallId, "call-linger");
    m.push_header(HeaderName::CSeq, &format!("{seq} {method}"));
    m
}

/// What one input produced: the messages sent, and the other outputs.
struct Out {
    sent: Vec<Message>,
    other: Vec<TxOutput>,
}

fn drain(l: &mut TransactionLayer) -> Out {
    let mut out = Out {
        sent: Vec::new(),
        other: Vec::new(),
    };
    while let Some(o) = l.poll_output() {
        match o {
            TxOutput::Transmit { data, .. } => out.sent.push(Message::parse(data).unwrap()),
            o => out.other.push(o),
        }
    }
    out
}

fn receive(l: &mut TransactionLayer, msg: &Message, now: Duration) -> Out {
    l.handle_message(Message::parse(msg.to_bytes()).unwrap(), caller(), now);
    drain(l)
}

/// Fires every timer up to `until`.
fn run_until(l: &mut TransactionLayer, until: Duration) -> Out {
    let mut all = Out {
        sent: Vec::new(),
        other: Vec::new(),
    };
    while let Some(t) = l.poll_timeout() {
        if t > until {
            break;
        }
        l.handle_timeout(t);
        let o = drain(l);
        all.sent.extend(o.sent);
        all.other.extend(o.other);
    }
    all
}

fn new_request(o: &Out) -> Option<TxId> {
    o.other.iter().find_map(|x| match x {
        TxOutput::Request { tx, .. } => Some(*tx),
        _ => None,
    })
}

fn terminated(o: &Out, id: TxId) -> bool {
    o.other
        .iter()
        .any(|x| matches!(x, TxOutput::Terminated { tx } if *tx == id))
}

fn answer(l: &mut TransactionLayer, tx: TxId, req: &Message, code: u16, now: Duration) -> Out {
    let resp = req.build_response(ResponseSpec::code(code).to_tag("t1"));
    l.send_response(tx, &resp, now).unwrap();
    drain(l)
}

#[test]
fn bye_copies_get_the_same_200_until_timer_j_and_then_start_anew() {
    let mut l = TransactionLayer::new(Timers::default());
    let bye = request(Method::Bye, "bye1", 2);
    let tx = new_request(&receive(&mut l, &bye, ms(0))).unwrap();
    let first = answer(&mut l, tx, &bye, 200, ms(10)).sent;
    assert_eq!(first.len(), 1);
    let c = l.counts();
    assert_eq!((c.server, c.pending, c.holding_request), (1, 0, 0));
    assert_eq!(l.server_state(tx), Some(ServerState::Completed));
    for at in [600, 10_000, 32_000] {
        let o = receive(&mut l, &bye, ms(at));
        assert!(
            new_request(&o).is_none(),
            "a copy at {at} ms is not a new request"
        );
        assert_eq!(o.sent.len(), 1, "a copy at {at} ms gets the 200 again");
        assert_eq!(o.sent[0].to_bytes(), first[0].to_bytes());
    }
    // Timer J: 32 s after the 200.
    assert_eq!(l.poll_timeout(), Some(ms(32_010)));
    assert!(terminated(&run_until(&mut l, ms(32_010)), tx));
    assert_eq!(l.counts().server, 0);
    assert!(new_request(&receive(&mut l, &bye, ms(32_020))).is_some());
}

#[test]
fn invite_copies_after_the_acked_2xx_are_absorbed_silently_until_timer_l() {
    let mut l = TransactionLayer::new(Timers::default());
    let invite = request(Method::Invite, "inv1", 1);
    let o = receive(&mut l, &invite, ms(0));
    let tx = new_request(&o).unwrap();
    assert_eq!(o.sent[0].status(), Some(100));
    assert_eq!(answer(&mut l, tx, &invite, 200, ms(5)).sent.len(), 1);
    // The TU's 2xx is retransmitted at T1 until the ACK.
    let o = run_until(&mut l, ms(505));
    assert_eq!(o.sent.len(), 1);
    assert_eq!(o.sent[0].status(), Some(200));
    let ack = request(Method::Ack, "ack1", 1);
    let o = receive(&mut l, &ack, ms(700));
    assert!(
        o.other
            .iter()
            .any(|x| matches!(x, TxOutput::Ack { invite: Some(i), .. } if *i == tx))
    );
    assert_eq!(l.server_state(tx), Some(ServerState::Accepted));
    assert!(l.request(tx).is_none());
    // No more 2xx, and INVITE copies neither answer nor reach the TU.
    assert!(run_until(&mut l, ms(20_000)).sent.is_empty());
    let o = receive(&mut l, &invite, ms(20_000));
    assert!(o.sent.is_empty() && o.other.is_empty());
    // An ACK copy still reaches the dialog layer (it may re-send nothing).
    let o = receive(&mut l, &ack, ms(21_000));
    assert!(o.other.iter().any(|x| matches!(x, TxOutput::Ack { .. })));
    // Timer L: 32 s after the 2xx; no timeout, the 2xx was acknowledged.
    let o = run_until(&mut l, ms(32_005));
    assert!(terminated(&o, tx));
    assert!(
        !o.other
            .iter()
            .any(|x| matches!(x, TxOutput::Timeout { .. }))
    );
    assert!(l.is_empty());
}

#[test]
fn ack_reusing_the_invite_branch_after_the_2xx_ack_reaches_the_dialog() {
    let mut l = TransactionLayer::new(Timers::default());
    let invite = request(Method::Invite, "inv2", 1);
    let tx = new_request(&receive(&mut l, &invite, ms(0))).unwrap();
    answer(&mut l, tx, &invite, 200, ms(5));
    // RFC 2543 style: the ACK carries the INVITE's branch.
    let ack = request(Method::Ack, "inv2", 1);
    for at in [100, 200] {
        let o = receive(&mut l, &ack, ms(at));
        assert!(o.sent.is_empty());
        assert!(
            o.other
                .iter()
                .any(|x| matches!(x, TxOutput::Ack { invite: Some(i), .. } if *i == tx))
        );
    }
    assert!(run_until(&mut l, ms(10_000)).sent.is_empty());
}

#[test]
fn acks_of_a_non_2xx_are_absorbed_after_confirmation_until_timer_i() {
    let mut l = TransactionLayer::new(Timers::default());
    let invite = request(Method::Invite, "inv3", 1);
    let tx = new_request(&receive(&mut l, &invite, ms(0))).unwrap();
    assert_eq!(answer(&mut l, tx, &invite, 486, ms(10)).sent.len(), 1);
    // Before the ACK an INVITE copy gets the 486 again.
    let o = receive(&mut l, &invite, ms(100));
    assert_eq!(o.sent.len(), 1);
    assert_eq!(o.sent[0].status(), Some(486));
    let ack = request(Method::Ack, "inv3", 1);
    let o = receive(&mut l, &ack, ms(200));
    assert!(o.sent.is_empty() && o.other.is_empty());
    assert_eq!(l.server_state(tx), Some(ServerState::Confirmed));
    // Copies of the ACK and of the INVITE are absorbed while Timer I runs.
    for (m, at) in [(&ack, 1_000), (&invite, 2_000), (&ack, 5_000)] {
        let o = receive(&mut l, m, ms(at));
        assert!(
            o.sent.is_empty() && o.other.is_empty(),
            "absorbed at {at} ms"
        );
    }
    assert!(terminated(&run_until(&mut l, ms(5_200)), tx));
    assert!(l.is_empty());
}

#[test]
fn cancel_after_the_final_answer_gets_200_and_no_487() {
    let mut l = TransactionLayer::new(Timers::default());
    let invite = request(Method::Invite, "inv4", 1);
    let tx = new_request(&receive(&mut l, &invite, ms(0))).unwrap();
    answer(&mut l, tx, &invite, 200, ms(5));
    receive(&mut l, &request(Method::Ack, "ack4", 1), ms(50));
    let o = receive(&mut l, &request(Method::Cancel, "inv4", 1), ms(100));
    let codes: Vec<_> = o.sent.iter().filter_map(Message::status).collect();
    assert_eq!(codes, vec![200]);
    assert!(
        !o.other
            .iter()
            .any(|x| matches!(x, TxOutput::Cancelled { .. }))
    );
}

#[test]
fn a_transport_error_ends_a_lingering_record() {
    let mut l = TransactionLayer::new(Timers::default());
    let bye = request(Method::Bye, "bye5", 2);
    let tx = new_request(&receive(&mut l, &bye, ms(0))).unwrap();
    answer(&mut l, tx, &bye, 200, ms(10));
    l.transport_error(tx);
    assert!(terminated(&drain(&mut l), tx));
    assert!(l.is_empty());
    assert_eq!(l.counts().server, 0);
}
