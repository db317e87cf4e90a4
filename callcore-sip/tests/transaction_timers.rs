//! Deterministic tests of every RFC 3261 §17 / RFC 6026 transaction timer, in virtual
//! time (T1 = 500 ms, T2 = 4 s, T4 = 5 s, 64·T1 = 32 s).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use std::time::Duration;

use callcore_sip::message::{HeaderName, Message, Method, ResponseSpec};
use callcore_sip::transaction::{Peer, ServerState, Timers, TransactionLayer, TxId, TxOutput};

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn peer_udp() -> Peer {
    Peer::udp("127.0.0.1:5062".parse().unwrap())
}

fn peer_tcp() -> Peer {
    Peer::tcp("127.0.0.1:5062".parse().unwrap())
}

fn request(method: Method, branch: &str, seq: u32) -> Message {
    let mut m = Message::request(method.clone(), "sip:agent@127.0.0.1");
    m.push_header(
        HeaderName::Via,
        &format!("SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{branch}"),
    );
    m.push_header(HeaderName::MaxForwards, "70");
    m.push_header(HeaderName::From, "<sip:caller@127.0.0.1>;tag=f1");
    m.push_header(HeaderName::To, "<sip:agent@127.0.0.1>");
    m.push_header(HeaderName::CallId, &format!("call-{branch}"));
    m.push_header(HeaderName::CSeq, &format!("{seq} {method}"));
    m
}

fn reparse(m: &Message) -> Message {
    Message::parse(m.to_bytes()).unwrap()
}

fn response(req: &Message, code: u16) -> Message {
    reparse(&req.build_response(ResponseSpec::code(code).to_tag("t1")))
}

/// Drains outputs; returns (transmitted messages, other outputs).
fn drain(l: &mut TransactionLayer) -> (Vec<Message>, Vec<TxOutput>) {
    let mut tx = Vec::new();
    let mut other = Vec::new();
    while let Some(o) = l.poll_output() {
        match o {
            TxOutput::Transmit { data, .. } => tx.push(Message::parse(data).unwrap()),
            o => other.push(o),
        }
    }
    (tx, other)
}

/// Advances virtual time to `until`, firing timers; returns the times of transmissions.
fn run_until(l: &mut TransactionLayer, until: Duration) -> (Vec<Duration>, Vec<TxOutput>) {
    let mut times = Vec::new();
    let mut other = Vec::new();
    while let Some(t) = l.poll_timeout() {
        if t > until {
            break;
        }
        l.handle_timeout(t);
        let (sent, o) = drain(l);
        times.extend(sent.iter().map(|_| t));
        other.extend(o);
    }
    (times, other)
}

fn has_timeout(o: &[TxOutput], id: TxId) -> bool {
    o.iter()
        .any(|x| matches!(x, TxOutput::Timeout { tx } if *tx == id))
}

fn has_terminated(o: &[TxOutput], id: TxId) -> bool {
    o.iter()
        .any(|x| matches!(x, TxOutput::Terminated { tx } if *tx == id))
}

#[test]
fn timer_a_doubles_and_timer_b_times_out_invite_over_udp() {
    let mut l = TransactionLayer::new(Timers::default());
    let id = l
        .send_request(request(Method::Invite, "a1", 1), peer_udp(), ms(0))
        .unwrap();
    assert_eq!(drain(&mut l).0.len(), 1);
    let (times, other) = run_until(&mut l, ms(40_000));
    assert_eq!(
        times,
        vec![
            ms(500),
            ms(1500),
            ms(3500),
            ms(7500),
            ms(15_500),
            ms(31_500)
        ]
    );
    assert!(has_timeout(&other, id) && has_terminated(&other, id));
    assert!(l.is_empty());
}

#[test]
fn no_retransmission_over_tcp_but_timer_b_still_fires() {
    let mut l = TransactionLayer::new(Timers::default());
    let id = l
        .send_request(request(Method::Invite, "a2", 1), peer_tcp(), ms(0))
        .unwrap();
    drain(&mut l);
    assert_eq!(l.poll_timeout(), Some(ms(32_000)));
    let (times, other) = run_until(&mut l, ms(40_000));
    assert!(times.is_empty());
    assert!(has_timeout(&other, id));
}

#[test]
fn provisional_stops_timer_a_and_timer_b() {
    let mut l = TransactionLayer::new(Timers::default());
    let inv = request(Method::Invite, "a3", 1);
    let id = l.send_request(inv.clone(), peer_udp(), ms(0)).unwrap();
    drain(&mut l);
    l.handle_message(response(&inv, 180), peer_udp(), ms(100));
    let (_, o) = drain(&mut l);
    assert!(
        matches!(&o[0], TxOutput::Response { tx, msg } if *tx == id && msg.status() == Some(180))
    );
    let (times, other) = run_until(&mut l, ms(60_000));
    assert!(times.is_empty(), "no retransmission in Proceeding");
    assert!(!has_timeout(&other, id), "Timer B only applies in Calling");
}

#[test]
fn non_2xx_is_acked_in_transaction_and_timer_d_absorbs_retransmissions() {
    let mut l = TransactionLayer::new(Timers::default());
    let inv = request(Method::Invite, "d1", 7);
    let id = l.send_request(inv.clone(), peer_udp(), ms(0)).unwrap();
    drain(&mut l);
    let busy = response(&inv, 486);
    l.handle_message(busy.clone(), peer_udp(), ms(200));
    let (sent, o) = drain(&mut l);
    assert_eq!(sent.len(), 1);
    let ack = &sent[0];
    assert_eq!(ack.method(), Some(&Method::Ack));
    assert_eq!(ack.cseq().unwrap().seq, 7);
    assert_eq!(
        ack.top_via().unwrap().branch(),
        Some("z9hG4bKd1"),
        "same branch as the INVITE"
    );
    assert_eq!(ack.to().unwrap().tag(), Some("t1"), "To from the response");
    assert!(matches!(&o[0], TxOutput::Response { msg, .. } if msg.status() == Some(486)));
    // A retransmitted 486 is answered with the ACK again and not passed up.
    l.handle_message(busy, peer_udp(), ms(1000));
    let (sent, o) = drain(&mut l);
    assert_eq!(sent.len(), 1);
    assert!(o.is_empty());
    // Timer D = 32 s after the first final response.
    assert_eq!(l.poll_timeout(), Some(ms(32_200)));
    let (_, o) = run_until(&mut l, ms(40_000));
    assert!(has_terminated(&o, id) && !has_timeout(&o, id));
}

#[test]
fn timer_d_is_zero_over_tcp() {
    let mut l = TransactionLayer::new(Timers::default());
    let inv = request(Method::Invite, "d2", 1);
    let id = l.send_request(inv.clone(), peer_tcp(), ms(0)).unwrap();
    drain(&mut l);
    l.handle_message(response(&inv, 603), peer_tcp(), ms(50));
    let (sent, o) = drain(&mut l);
    assert_eq!(sent[0].method(), Some(&Method::Ack));
    assert!(has_terminated(&o, id));
}

#[test]
fn two_xx_moves_client_to_accepted_and_timer_m_passes_retransmissions() {
    let mut l = TransactionLayer::new(Timers::default());
    let inv = request(Method::Invite, "m1", 1);
    let id = l.send_request(inv.clone(), peer_udp(), ms(0)).unwrap();
    drain(&mut l);
    let ok = response(&inv, 200);
    l.handle_message(ok.clone(), peer_udp(), ms(300));
    let (sent, o) = drain(&mut l);
    assert!(
        sent.is_empty(),
        "the 2xx ACK belongs to the dialog, not the transaction"
    );
    assert_eq!(o.len(), 1);
    l.handle_message(ok.clone(), peer_udp(), ms(800));
    let (_, o) = drain(&mut l);
    assert!(matches!(&o[0], TxOutput::Response { msg, .. } if msg.status() == Some(200)));
    // A late provisional after the 2xx is absorbed (reordering seen behind Kamailio).
    l.handle_message(response(&inv, 180), peer_udp(), ms(900));
    assert!(drain(&mut l).1.is_empty());
    assert_eq!(l.poll_timeout(), Some(ms(32_300)));
    let (_, o) = run_until(&mut l, ms(33_000));
    assert!(has_terminated(&o, id));
    // After Timer M a 2xx retransmission is stray: the dialog re-ACKs it.
    l.handle_message(ok, peer_udp(), ms(34_000));
    assert!(matches!(drain(&mut l).1[0], TxOutput::StrayResponse { .. }));
}

#[test]
fn timer_e_caps_at_t2_and_timer_f_times_out_non_invite() {
    let mut l = TransactionLayer::new(Timers::default());
    let id = l
        .send_request(request(Method::Options, "e1", 1), peer_udp(), ms(0))
        .unwrap();
    drain(&mut l);
    let (times, o) = run_until(&mut l, ms(40_000));
    let expect: Vec<Duration> = [
        500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500,
    ]
    .into_iter()
    .map(ms)
    .collect();
    assert_eq!(times, expect);
    assert!(has_timeout(&o, id));
}

#[test]
fn timer_e_uses_t2_in_proceeding() {
    let mut l = TransactionLayer::new(Timers::default());
    let req = request(Method::Register, "e2", 1);
    l.send_request(req.clone(), peer_udp(), ms(0)).unwrap();
    drain(&mut l);
    l.handle_message(response(&req, 100), peer_udp(), ms(100));
    drain(&mut l);
    let (times, _) = run_until(&mut l, ms(9_000));
    assert_eq!(times, vec![ms(500), ms(4500), ms(8500)]);
}

#[test]
fn timer_k_lingers_t4_over_udp_and_zero_over_tcp() {
    let mut l = TransactionLayer::new(Timers::default());
    let req = request(Method::Bye, "k1", 2);
    let id = l.send_request(req.clone(), peer_udp(), ms(0)).unwrap();
    drain(&mut l);
    l.handle_message(response(&req, 200), peer_udp(), ms(100));
    drain(&mut l);
    assert_eq!(l.poll_timeout(), Some(ms(5100)));
    let (times, o) = run_until(&mut l, ms(6000));
    assert!(times.is_empty() && has_terminated(&o, id));

    let req = request(Method::Bye, "k2", 2);
    let id = l.send_request(req.clone(), peer_tcp(), ms(0)).unwrap();
    drain(&mut l);
    l.handle_message(response(&req, 200), peer_tcp(), ms(100));
    assert!(has_terminated(&drain(&mut l).1, id));
}

fn receive(
    l: &mut TransactionLayer,
    msg: Message,
    peer: Peer,
    now: Duration,
) -> (Vec<Message>, Vec<TxOutput>) {
    l.handle_message(reparse(&msg), peer, now);
    drain(l)
}

fn server_tx(o: &[TxOutput]) -> TxId {
    o.iter()
        .find_map(|x| match x {
            TxOutput::Request { tx, .. } => Some(*tx),
            _ => None,
        })
        .unwrap()
}

#[test]
fn server_invite_sends_100_and_resends_provisional_on_retransmission() {
    let mut l = TransactionLayer::new(Timers::default());
    let inv = request(Method::Invite, "s1", 1);
    let (sent, o) = receive(&mut l, inv.clone(), peer_udp(), ms(0));
    assert_eq!(sent[0].status(), Some(100));
    assert_eq!(sent[0].to().unwrap().tag(), None);
    let id = server_tx(&o);
    l.send_response(
        id,
        &inv.build_response(ResponseSpec::code(180).to_tag("x")),
        ms(10),
    )
    .unwrap();
    drain(&mut l);
    let (sent, o) = receive(&mut l, inv, peer_udp(), ms(500));
    assert_eq!(sent[0].status(), Some(180));
    assert!(
        o.is_empty(),
        "retransmission is absorbed, not passed to the TU"
    );
}

#[test]
fn timer_g_retransmits_non_2xx_and_timer_h_gives_up() {
    let mut l = TransactionLayer::new(Timers::default());
    let inv = request(Method::Invite, "g1", 1);
    let (_, o) = receive(&mut l, inv.clone(), peer_udp(), ms(0));
    let id = server_tx(&o);
    l.send_response(
        id,
        &inv.build_response(ResponseSpec::code(486).to_tag("x")),
        ms(0),
    )
    .unwrap();
    drain(&mut l);
    let (times, o) = run_until(&mut l, ms(40_000));
    let expect: Vec<Duration> = [
        500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500,
    ]
    .into_iter()
    .map(ms)
    .collect();
    assert_eq!(times, expect);
    assert!(has_timeout(&o, id) && has_terminated(&o, id));
}

#[test]
fn ack_confirms_and_timer_i_absorbs_acks() {
    let mut l = TransactionLayer::new(Timers::default());
    let inv = request(Method::Invite, "i1", 1);
    let (_, o) = receive(&mut l, inv.clone(), peer_udp(), ms(0));
    let id = server_tx(&o);
    let resp = inv.build_response(ResponseSpec::code(404).to_tag("x"));
    l.send_response(id, &resp, ms(0)).unwrap();
    drain(&mut l);
    let ack = callcore_sip::transaction::build_ack_for_non2xx(&inv, &reparse(&resp));
    let (sent, o) = receive(&mut l, ack.clone(), peer_udp(), ms(700));
    assert!(
        sent.is_empty() && o.is_empty(),
        "non-2xx ACK is absorbed by the transaction"
    );
    assert_eq!(l.server_state(id), Some(ServerState::Confirmed));
    assert_eq!(l.poll_timeout(), Some(ms(5700)));
    let (times, o) = run_until(&mut l, ms(6000));
    assert!(times.is_empty() && has_terminated(&o, id));
}

#[test]
fn server_over_tcp_has_no_timer_g_and_zero_timer_i() {
    let mut l = TransactionLayer::new(Timers::default());
    let inv = request(Method::Invite, "i2", 1);
    let (_, o) = receive(&mut l, inv.clone(), peer_tcp(), ms(0));
    let id = server_tx(&o);
    let resp = inv.build_response(ResponseSpec::code(480).to_tag("x"));
    l.send_response(id, &resp, ms(0)).unwrap();
    drain(&mut l);
    assert_eq!(l.poll_timeout(), Some(ms(32_000)), "only Timer H is armed");
    let ack = callcore_sip::transaction::build_ack_for_non2xx(&inv, &reparse(&resp));
    let (_, o) = receive(&mut l, ack, peer_tcp(), ms(10));
    assert!(has_terminated(&o, id));
}

#[test]
fn two_xx_is_retransmitted_until_the_dialog_ack_and_timer_l_ends_it() {
    let mut l = TransactionLayer::new(Timers::default());
    let inv = request(Method::Invite, "l1", 1);
    let (_, o) = receive(&mut l, inv.clone(), peer_udp(), ms(0));
    let id = server_tx(&o);
    l.send_response(
        id,
        &inv.build_response(ResponseSpec::code(200).to_tag("x")),
        ms(0),
    )
    .unwrap();
    drain(&mut l);
    let (times, _) = run_until(&mut l, ms(4000));
    assert_eq!(times, vec![ms(500), ms(1500), ms(3500)]);
    // The ACK of a 2xx has its own branch.
    let mut ack = request(Method::Ack, "other-branch", 1);
    ack.set_header(HeaderName::CallId, "call-l1");
    let (_, o) = receive(&mut l, ack, peer_udp(), ms(4000));
    assert!(matches!(&o[0], TxOutput::Ack { invite: Some(t), .. } if *t == id));
    // Request retransmissions in Accepted are absorbed.
    let (sent, o) = receive(&mut l, inv, peer_udp(), ms(4100));
    assert!(sent.is_empty() && o.is_empty());
    let (times, o) = run_until(&mut l, ms(40_000));
    assert!(times.is_empty(), "no 2xx retransmission after the ACK");
    assert!(has_terminated(&o, id) && !has_timeout(&o, id));
}

#[test]
fn missing_2xx_ack_times_out_at_timer_l() {
    let mut l = TransactionLayer::new(Timers::default());
    let inv = request(Method::Invite, "l2", 1);
    let (_, o) = receive(&mut l, inv.clone(), peer_udp(), ms(0));
    let id = server_tx(&o);
    l.send_response(
        id,
        &inv.build_response(ResponseSpec::code(200).to_tag("x")),
        ms(0),
    )
    .unwrap();
    drain(&mut l);
    let (times, o) = run_until(&mut l, ms(40_000));
    assert_eq!(times.first(), Some(&ms(500)));
    assert_eq!(times.last(), Some(&ms(31_500)));
    assert!(has_timeout(&o, id));
}

#[test]
fn timer_j_absorbs_non_invite_retransmissions_over_udp_only() {
    let mut l = TransactionLayer::new(Timers::default());
    let req = request(Method::Options, "j1", 1);
    let (sent, o) = receive(&mut l, req.clone(), peer_udp(), ms(0));
    assert!(sent.is_empty(), "no automatic 100 for non-INVITE");
    let id = server_tx(&o);
    l.send_response(
        id,
        &req.build_response(ResponseSpec::code(200).to_tag("x")),
        ms(0),
    )
    .unwrap();
    drain(&mut l);
    let (sent, o) = receive(&mut l, req, peer_udp(), ms(1000));
    assert_eq!(sent[0].status(), Some(200));
    assert!(o.is_empty());
    assert_eq!(l.poll_timeout(), Some(ms(32_000)));
    assert!(has_terminated(&run_until(&mut l, ms(33_000)).1, id));

    let req = request(Method::Options, "j2", 1);
    let (_, o) = receive(&mut l, req.clone(), peer_tcp(), ms(0));
    let id = server_tx(&o);
    l.send_response(
        id,
        &req.build_response(ResponseSpec::code(200).to_tag("x")),
        ms(0),
    )
    .unwrap();
    assert!(has_terminated(&drain(&mut l).1, id));
}

#[test]
fn cancel_answers_200_and_487_and_tells_the_tu() {
    let mut l = TransactionLayer::new(Timers::default());
    let inv = request(Method::Invite, "c1", 1);
    let (_, o) = receive(&mut l, inv.clone(), peer_udp(), ms(0));
    let id = server_tx(&o);
    let cancel = callcore_sip::transaction::build_cancel(&inv);
    let (sent, o) = receive(&mut l, cancel, peer_udp(), ms(100));
    let codes: Vec<_> = sent
        .iter()
        .map(|m| (m.status(), m.cseq().unwrap().method))
        .collect();
    assert_eq!(
        codes,
        vec![(Some(200), Method::Cancel), (Some(487), Method::Invite)]
    );
    assert!(
        o.iter()
            .any(|x| matches!(x, TxOutput::Cancelled { invite } if *invite == id))
    );
    // A CANCEL for nothing gets 481.
    let stray = callcore_sip::transaction::build_cancel(&request(Method::Invite, "nothing", 1));
    let (sent, _) = receive(&mut l, stray, peer_udp(), ms(200));
    assert_eq!(sent[0].status(), Some(481));
}

#[test]
fn client_cancel_starts_a_cancel_transaction() {
    let mut l = TransactionLayer::new(Timers::default());
    let inv = request(Method::Invite, "c2", 3);
    let id = l.send_request(inv.clone(), peer_udp(), ms(0)).unwrap();
    drain(&mut l);
    l.handle_message(response(&inv, 180), peer_udp(), ms(100));
    drain(&mut l);
    let cid = l.cancel(id, ms(200)).unwrap();
    let (sent, _) = drain(&mut l);
    assert_eq!(sent[0].method(), Some(&Method::Cancel));
    assert_eq!(sent[0].top_via().unwrap().branch(), Some("z9hG4bKc2"));
    assert_eq!(sent[0].cseq().unwrap().seq, 3);
    assert_ne!(cid, id);
    let _ = Bytes::new();
}
