//! The 49 messages of RFC 4475 (SIP torture tests), written from the RFC's text, with
//! the answer a user agent server gives each one. Line breaks become CRLF; where a body
//! matters only for framing, Content-Length is computed from it.
//!
//! Shared by the wire test (`rfc4475_wire.rs`) and the fuzz targets (`fuzz.rs`), which
//! start their mutations from these messages.

#![allow(dead_code)]

/// The SDP body the RFC's INVITEs carry (150 octets with CRLF).
pub const SDP150: &str = "v=0\no=mhandley 29739 7272939 IN IP4 192.0.2.3\ns=-\nc=IN IP4 192.0.2.4\nt=0 0\nm=audio 49217 RTP/AVP 0 12\nm=video 3227 RTP/AVP 31\na=rtpmap:31 LPC\n";

/// What a user agent server does with a torture message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A valid request: answered, and not refused as malformed or unsupported
    /// (no 400, 415, 416, 420, 505 or 513).
    Accepted,
    /// Answered with one of these statuses.
    Status(&'static [u16]),
    /// A response, or a message to discard: nothing is sent back.
    Silent,
}

/// One torture message.
#[derive(Debug, Clone)]
pub struct Torture {
    /// The RFC's name for it (section 3.x.y).
    pub name: &'static str,
    /// The bytes on the wire.
    pub bytes: Vec<u8>,
    /// What a UAS answers.
    pub expect: Expect,
}

/// Messages whose Content-Length promises more than was sent: on a stream the receiver
/// cannot tell them from a message still arriving, so waiting (no answer) is right
/// there too (RFC 4475 §3.1.2.2).
pub const STREAM_MAY_WAIT: &[&str] = &["clerr"];

/// Refusals that a valid request must not get.
pub const REFUSALS: &[u16] = &[400, 415, 416, 420, 505, 513];

/// Head lines joined with CRLF, a blank line, the body (LF → CRLF).
pub fn raw(head: &str, body: &str) -> Vec<u8> {
    let mut s = head.trim_start_matches('\n').replace('\n', "\r\n");
    s.push_str("\r\n");
    s.push_str(&body.replace("\r\n", "\n").replace('\n', "\r\n"));
    s.into_bytes()
}

/// Like [`raw`] with `Content-Length` computed from the body.
pub fn framed(head: &str, body: &str) -> Vec<u8> {
    let body = body.replace('\n', "\r\n");
    raw(
        &format!(
            "{}Content-Length: {}\n",
            head.trim_start_matches('\n'),
            body.len()
        ),
        &body,
    )
}

const BASE: &str = "To: sip:j.user@example.com\nFrom: sip:caller@example.net;tag=134161461246\nMax-Forwards: 7\nCall-ID: torture.0ha0isndaksdjasdf3234nas\n";

fn longreq() -> Vec<u8> {
    let mut h = String::from("INVITE sip:user@example.com SIP/2.0\n");
    h += &format!(
        "To: \"I have a user name of {} proportion\"<sip:user@example.com:6000;unknownparam1=very{}value;longparam{}=shortvalue;very{}ParameterNameWithNoValue>\n",
        "extreme".repeat(10),
        "long".repeat(20),
        "name".repeat(25),
        "long".repeat(25)
    );
    h += &format!(
        "F: sip:{}@example.net;tag=12{}424;unknownheaderparam{}=unknowheaderparam{};unknownValueless{}\n",
        "amazinglylongcallername".repeat(5),
        "982".repeat(50),
        "name".repeat(20),
        "value".repeat(15),
        "paramname".repeat(10)
    );
    h += &format!("Call-ID: longreq.one{}longcallid\n", "really".repeat(20));
    h += "CSeq: 3882340 INVITE\n";
    h += &format!(
        "Unknown-{l}-Name: unknown-{m}-value; unknown-{m}-parameter-name = unknown-{m}-parameter-value\n",
        l = "Long".repeat(20),
        m = "long".repeat(20)
    );
    for n in (1..=33).rev() {
        let name = [
            "Via", "v", "V", "ViA", "VIa", "VIA", "via", "viA", "vIa", "vIA", "V ", "v ", "Via ",
        ][n % 13];
        h += &format!("{name}: SIP/2.0/TCP sip{n}.example.com\n");
    }
    h += &format!(
        "Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;branch=very{}branchvalue\n",
        "long".repeat(50)
    );
    h += "Max-Forwards: 70\n";
    h += &format!(
        "Contact: <sip:{}@host5.example.net>\n",
        "amazinglylongcallername".repeat(5)
    );
    h += "Content-Type: application/sdp\n";
    framed(&h, SDP150)
}

/// Every torture message of RFC 4475 §3, in the RFC's order.
pub fn messages() -> Vec<Torture> {
    use Expect::*;
    let t = |name, bytes, expect| Torture {
        name,
        bytes,
        expect,
    };
    vec![
        // ------------------------------------------------ 3.1.1 valid messages
        t(
            "wsinv",
            raw(
                "INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\nTO :\n sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\nfrom   : \"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\n  ;\n  tag = 98asjd8\nMaX-fOrWaRdS: 0068\nCall-ID: wsinv.ndaksdj@192.0.2.1\nContent-Length   : 150\ncseq: 0009\n  INVITE\nVia  : SIP  /   2.0\n /UDP\n    192.0.2.2;branch=390skdjuw\ns :\nNewFangledHeader:   newfangled value\n continued newfangled value\nUnknownHeaderWithUnusualValue: ;;,,;;,;\nContent-Type: application/sdp\nRoute:\n <sip:services.example.com;lr;unknownwith=value;unknown-no-value>\nv:  SIP  / 2.0  / TCP     spindle.example.com   ;\n  branch  =   z9hG4bK9ikj8  ,\n SIP  /    2.0   / UDP  192.168.255.111   ; branch=\n z9hG4bK30239\nm:\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam =\n      newvalue ;\n  secondparam ; q = 0.33\n",
                SDP150,
            ),
            Accepted,
        ),
        t(
            "intmeth",
            raw(
                "!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0\nVia: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\nTo: \"BEL:\\\u{7} NUL:\\\u{0} DEL:\\\u{7f}\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>\nFrom: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"\u{440}\u{430}\u{431}\u{43e}\u{442}\u{430}\u{44e}\u{449}\u{438}\u{439}\";tag=_token~1'+`*%!-.\nCall-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\nCSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\nMax-Forwards: 255\nextensionHeader-!.%*+_`'~:\u{feff}\u{5927}\u{505c}\u{96fb}\nContent-Length: 0\n",
                "",
            ),
            Status(&[501]),
        ),
        t(
            "esc01",
            framed(
                "INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0\nTo: sip:%75se%72@example.com\nFrom: <sip:I%20have%20spaces@example.net>;tag=938\nMax-Forwards: 87\ni: esc01.239409asdfakjkn23onasd0-3234\nCSeq: 234234 INVITE\nVia: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw\nC: application/sdp\nContact:\n  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>\n",
                SDP150,
            ),
            Accepted,
        ),
        t(
            "escnull",
            raw(
                "REGISTER sip:example.com SIP/2.0\nTo: sip:null-%00-null@example.com\nFrom: sip:null-%00-null@example.com;tag=839923423\nMax-Forwards: 70\nCall-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd\nCSeq: 14398234 REGISTER\nVia: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw\nContact: <sip:%00@host5.example.com>\nContact: <sip:%00%00@host5.example.com>\nL:0\n",
                "",
            ),
            Accepted,
        ),
        t(
            "esc02",
            raw(
                "RE%47IST%45R sip:registrar.example.com SIP/2.0\nTo: \"%Z%45\" <sip:resource@example.com>\nFrom: \"%Z%45\" <sip:resource@example.com>;tag=f232jadfj23\nCall-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf\nVia: SIP/2.0/TCP host129.example.com;branch=z9hG4bK823jnnaksdfsdfsdf\nCSeq: 29344 RE%47IST%45R\nMax-Forwards: 70\nContact: <sip:alias1@host1.example.com>\nC%6Fntact: <sip:alias2@host2.example.com>\nContact: <sip:alias3@host3.example.com>\nl: 0\n",
                "",
            ),
            Status(&[501]),
        ),
        t(
            "lwsdisp",
            raw(
                "OPTIONS sip:user@example.com SIP/2.0\nTo: sip:user@example.com\nFrom: caller<sip:caller@example.com>;tag=323\nMax-Forwards: 70\nCall-ID: lwsdisp.1234abcd@funky.example.com\nCSeq: 60 OPTIONS\nVia: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw\nl: 0\n",
                "",
            ),
            Status(&[200]),
        ),
        t("longreq", longreq(), Accepted),
        t(
            "dblreq",
            raw(
                "REGISTER sip:example.com SIP/2.0\nTo: sip:j.user@example.com\nFrom: sip:j.user@example.com;tag=43251j3j324\nMax-Forwards: 8\nI: dblreq.0ha0isndaksdj99sdfafnl3lk233412\nContact: sip:j.user@host.example.com\nCSeq: 8 REGISTER\nVia: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492\nContent-Length: 0\n",
                "INVITE sip:joe@example.com SIP/2.0\nt: sip:joe@example.com\nFrom: sip:caller@example.net;tag=141334\nMax-Forwards: 8\nCall-ID: dblreq.0ha0isnda977644900765@192.0.2.15\nCSeq: 8 INVITE\nVia: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234\nContent-Type: application/sdp\nContent-Length: 150\n\n",
            ),
            Accepted,
        ),
        t(
            "semiuri",
            raw(
                "OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0\nTo: sip:j_user@example.com\nFrom: sip:caller@example.org;tag=33242\nMax-Forwards: 3\nCall-ID: semiuri.0ha0isndaksdj\nCSeq: 8 OPTIONS\nAccept: application/sdp, application/pkcs7-mime,\n        multipart/mixed, multipart/signed,\n        message/sip, message/sipfrag\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw\nl: 0\n",
                "",
            ),
            Status(&[200]),
        ),
        t(
            "transports",
            raw(
                "OPTIONS sip:user@example.com SIP/2.0\nTo: sip:user@example.com\nFrom: <sip:caller@example.com>;tag=323\nMax-Forwards: 70\nCall-ID:  transports.kijh4akdnaqjkwendsasfdj\nAccept: application/sdp\nCSeq: 60 OPTIONS\nVia: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw\nVia: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf\nVia: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj\nVia: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en\nVia: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee\nl: 0\n",
                "",
            ),
            Status(&[200]),
        ),
        t(
            "mpart01",
            framed(
                "MESSAGE sip:kumiko@example.org SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.93:5060;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport\nMax-Forwards: 70\nRoute: <sip:127.0.0.1:5080>\nIdentity: r5mwreLuyDRYBi/0TiPwEsY3rEVsk/G2WxhgTV1PF7hHuLIK0YWVKZhKv9Mj8UeXqkMVbnVq37CD+813gvYjcBUaZngQmXc9WNZSDNGCzA+fWl9MEUHWIZo1CeJebdY/XlgKeTa0Olvq0rt70Q5jiSfbqMJmQFteeivUhkMWYUA=\nContact: <sip:fluffy@192.0.2.93:5060>\nTo: <sip:kumiko@example.org>\nFrom: <sip:fluffy@example.com>;tag=2fb0dcc9\nCall-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..\nCSeq: 1 MESSAGE\nContent-Transfer-Encoding: binary\nContent-Type: multipart/mixed;boundary=boundary42\n",
                "--boundary42\nContent-Type: application/sdp\n\nv=0\no=bob 2808844564 2808844564 IN IP4 host.example.com\ns=\nc=IN IP4 192.0.2.4\nt=0 0\nm=audio 36000 RTP/AVP 0\n--boundary42\nContent-Type: application/pkcs7-signature; name=smime.p7s\nContent-Transfer-Encoding: base64\n\nMIIBUgYJKoZIhvcNAQcCoIIBQzCCAT8CAQExCTAHBgUrDgMCGjALBgkqhkiG9w0B\n--boundary42-\n",
            ),
            Accepted,
        ),
        t(
            "unreason",
            framed(
                "SIP/2.0 200 = 2**3 * 5**2 \u{43d}\u{43e} \u{441}\u{442}\u{43e} \u{434}\u{435}\u{432}\u{44f}\u{43d}\u{43e}\u{441}\u{442}\u{43e} \u{434}\u{435}\u{432}\u{44f}\u{442}\u{44c} - \u{43f}\u{440}\u{43e}\u{441}\u{442}\u{43e}\u{435}\nVia: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\nCall-ID: unreason.1234ksdfak3j2erwedfsASdf\nCSeq: 35 INVITE\nFrom: sip:user@example.com;tag=11141343\nTo: sip:user@example.edu;tag=2229\nContent-Type: application/sdp\nContact: <sip:user@host198.example.com>\n",
                SDP150,
            ),
            Silent,
        ),
        t(
            "noreason",
            raw(
                "SIP/2.0 100 \nVia: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\nCall-ID: noreason.asndj203insdf99223ndf\nCSeq: 35 INVITE\nFrom: <sip:user@example.com>;tag=39ansfi3\nTo: <sip:user@example.edu>;tag=902jndnke3\nContent-Length: 0\nContact: <sip:user@host105.example.com>\n",
                "",
            ),
            Silent,
        ),
        // ------------------------------------------------ 3.1.2 invalid messages
        t(
            "badinv01",
            framed(
                &format!(
                    "INVITE sip:user@example.com SIP/2.0\n{BASE}CSeq: 8 INVITE\nVia: SIP/2.0/UDP 192.0.2.15;;,;,,\nContact: \"Joe\" <sip:joe@example.org>;;;;\nContent-Type: application/sdp\n"
                ),
                SDP150,
            ),
            Status(&[400]),
        ),
        t(
            "clerr",
            raw(
                &format!(
                    "INVITE sip:user@example.com SIP/2.0\n{BASE}Contact: <sip:caller@hungry.example.net>\nCSeq: 8 INVITE\nVia: SIP/2.0/UDP host5.example.com;branch=z9hG4bK-39234-23523\nContent-Type: application/sdp\nContent-Length: 9999\n"
                ),
                SDP150,
            ),
            Status(&[400]),
        ),
        t(
            "ncl",
            raw(
                &format!(
                    "INVITE sip:user@example.com SIP/2.0\n{BASE}CSeq: 0 INVITE\nVia: SIP/2.0/UDP 192.0.2.53;branch=z9hG4bKkdjuw\nContact: <sip:caller@example53.example.net>\nContent-Type: application/sdp\nContent-Length: -999\n"
                ),
                SDP150,
            ),
            Status(&[400]),
        ),
        t(
            "scalar02",
            framed(
                "REGISTER sip:example.com SIP/2.0\nVia: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3\nTo: <sip:user@example.com>\nFrom: <sip:user@example.com>;tag=239232jh3\nCSeq: 36893488147419103232 REGISTER\nCall-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32\nMax-Forwards: 300\nExpires: 1000000000000000000000000\nContact: <sip:user@host129.example.com>\n  ;expires=280297596632815\n",
                "",
            ),
            Status(&[400]),
        ),
        t(
            "scalarlg",
            framed(
                "SIP/2.0 503 Service Unavailable\nVia: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129\nTo: <sip:user@example.com>\nFrom: <sip:other@example.net>;tag=2easdjfejw\nCSeq: 9292394834772304023312 OPTIONS\nCall-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r\nRetry-After: 949302838503028349304023988\nWarning: 1812 overture \"In Progress\"\n",
                "",
            ),
            Silent,
        ),
        t(
            "quotbal",
            framed(
                "INVITE sip:user@example.com SIP/2.0\nTo: \"Mr. J. User <sip:j.user@example.com>\nFrom: sip:caller@example.net;tag=93334\nMax-Forwards: 10\nCall-ID: quotbal.aksdj\nContact: <sip:caller@host59.example.net>\nCSeq: 8 INVITE\nVia: SIP/2.0/UDP 192.0.2.59:5050;branch=z9hG4bKkdjuw39234\nContent-Type: application/sdp\n",
                SDP150,
            ),
            Status(&[400]),
        ),
        t(
            "ltgtruri",
            framed(
                "INVITE <sip:user@example.com> SIP/2.0\nTo: sip:user@example.com\nFrom: sip:caller@example.net;tag=39291\nMax-Forwards: 23\nCall-ID: ltgtruri.1@192.0.2.5\nCSeq: 1 INVITE\nVia: SIP/2.0/UDP 192.0.2.5\nContact: <sip:caller@host5.example.net>\nContent-Type: application/sdp\n",
                SDP150,
            ),
            Status(&[400]),
        ),
        t(
            "lwsruri",
            framed(
                "INVITE sip:user@example.com; lr SIP/2.0\nTo: sip:user@example.com;tag=3xfe-9921883-z9f\nFrom: sip:caller@example.net;tag=231413434\nMax-Forwards: 5\nCall-ID: lwsruri.asdfasdoeoi2323-asdfwrn23-asd834rk423\nCSeq: 2130706432 INVITE\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw2395\nContact: <sip:caller@host1.example.net>\nContent-Type: application/sdp\n",
                SDP150,
            ),
            Status(&[400]),
        ),
        t(
            "lwsstart",
            framed(
                "INVITE  sip:user@example.com  SIP/2.0\nMax-Forwards: 8\nTo: sip:user@example.com\nFrom: sip:caller@example.net;tag=8814\nCall-ID: lwsstart.dfknq234oi243099adsdfnawe3@example.com\nCSeq: 1893884 INVITE\nVia: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw3923\nContact: <sip:caller@host1.example.net>\nContent-Type: application/sdp\n",
                SDP150,
            ),
            Status(&[400]),
        ),
        t(
            "trws",
            framed(
                "OPTIONS sip:remote-target@example.com SIP/2.0  \nVia: SIP/2.0/TCP host1.example.com;branch=z9hG4bK299342093\nTo: <sip:remote-target@example.com>\nFrom: <sip:local-resource@example.com>;tag=329429089\nCall-ID: trws.oicu34958239neffasdhr2345r\nAccept: application/sdp\nCSeq: 238923 OPTIONS\nMax-Forwards: 70\n",
                "",
            ),
            Status(&[400]),
        ),
        t(
            "escruri",
            framed(
                "INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0\nTo: sip:user@example.com\nFrom: sip:caller@example.net;tag=341518\nMax-Forwards: 7\nContact: <sip:caller@host39923.example.net>\nCall-ID: escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5\nCSeq: 149209342 INVITE\nVia: SIP/2.0/UDP host-of-the-hour.example.com;branch=z9hG4bKkdjuw\nContent-Type: application/sdp\n",
                SDP150,
            ),
            Status(&[400]),
        ),
        t(
            "baddate",
            framed(
                "INVITE sip:user@example.com SIP/2.0\nTo: sip:user@example.com\nFrom: sip:caller@example.net;tag=2234923\nMax-Forwards: 70\nCall-ID: baddate.239423mnsadf3j23lj42--sedfnm234\nCSeq: 1392934 INVITE\nVia: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw\nDate: Fri, 01 Jan 2010 16:00:00 EST\nContact: <sip:caller@host5.example.net>\nContent-Type: application/sdp\n",
                SDP150,
            ),
            Status(&[400]),
        ),
        t(
            "regbadct",
            framed(
                "REGISTER sip:example.com SIP/2.0\nTo: sip:user@example.com\nFrom: sip:user@example.com;tag=998332\nMax-Forwards: 70\nCall-ID: regbadct.k345asrl3fdbv@10.0.0.1\nCSeq: 1 REGISTER\nVia: SIP/2.0/UDP 135.180.130.133:5060;branch=z9hG4bKkdjuw\nContact: sip:user@example.com?Route=%3Csip:sip.example.com%3E\n",
                "",
            ),
            Status(&[400]),
        ),
        t(
            "badaor",
            framed(
                "OPTIONS sip:user@example.org SIP/2.0\nVia: SIP/2.0/UDP host4.example.com:5060;branch=z9hG4bKkdju43234\nMax-Forwards: 70\nFrom: \"Bell, Alexander\" <sip:a.g.bell@example.com>;tag=433423\nTo: \"Watson, Thomas\" < sip:t.watson@example.org >\nCall-ID: badaor239423mnsadf3j23lj42--sedfnm234\nCSeq: 1 OPTIONS\nAccept: application/sdp\n",
                "",
            ),
            Status(&[400]),
        ),
        t(
            "baddn",
            framed(
                "OPTIONS sip:t.watson@example.org SIP/2.0\nVia:     SIP/2.0/UDP c.example.com:5060;branch=z9hG4bKkdjuw\nMax-Forwards:      70\nFrom:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43\nTo:      Watson, Thomas <sip:t.watson@example.org>\nCall-ID: baddn.31415@c.example.com\nAccept: application/sdp\nCSeq:    3923239 OPTIONS\n",
                "",
            ),
            Status(&[400]),
        ),
        t(
            "badvers",
            framed(
                "OPTIONS sip:t.watson@example.org SIP/7.0\nVia:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw\nMax-Forwards:     70\nFrom:    A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe\nTo:      T. Watson <sip:t.watson@example.org>\nCall-ID: badvers.31417@c.example.com\nCSeq:    1 OPTIONS\n",
                "",
            ),
            Status(&[505]),
        ),
        t(
            "mismatch01",
            framed(
                "OPTIONS sip:user@example.com SIP/2.0\nTo: sip:j.user@example.com\nFrom: sip:caller@example.net;tag=34525\nMax-Forwards: 6\nCall-ID: mismatch01.dj0234sxdfl3\nCSeq: 8 INVITE\nVia: SIP/2.0/UDP host.example.com;branch=z9hG4bKkdjuw\n",
                "",
            ),
            Status(&[400]),
        ),
        t(
            "mismatch02",
            framed(
                "NEWMETHOD sip:user@example.com SIP/2.0\nTo: sip:j.user@example.com\nFrom: sip:caller@example.net;tag=34525\nMax-Forwards: 6\nCall-ID: mismatch02.dj0234sxdfl3\nCSeq: 8 INVITE\nContact: <sip:caller@host.example.net>\nVia: SIP/2.0/UDP host.example.net;branch=z9hG4bKkdjuw\nContent-Type: application/sdp\n",
                SDP150,
            ),
            Status(&[400]),
        ),
        t(
            "bigcode",
            framed(
                "SIP/2.0 4294967301 better not break the receiver\nVia: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\nCall-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i\nCSeq: 353494 INVITE\nFrom: <sip:user@example.com>;tag=39ansfi3\nTo: <sip:user@example.edu>;tag=902jndnke3\nContact: <sip:user@host105.example.com>\n",
                "",
            ),
            Silent,
        ),
        // ------------------------------------------------ 3.2 transaction layer
        t(
            "badbranch",
            framed(
                "OPTIONS sip:user@example.com SIP/2.0\nTo: sip:user@example.com\nFrom: sip:caller@example.org;tag=33242\nMax-Forwards: 3\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK\nAccept: application/sdp\nCall-ID: badbranch.sadonfo23i420jv0as0derf3j3n\nCSeq: 8 OPTIONS\n",
                "",
            ),
            Status(&[200]),
        ),
        // ------------------------------------------------ 3.3 application layer
        t(
            "insuf",
            framed(
                "INVITE sip:user@example.com SIP/2.0\nCSeq: 193942 INVITE\nVia: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf\nContent-Type: application/sdp\n",
                SDP150,
            ),
            Status(&[400]),
        ),
        t(
            "unkscm",
            framed(
                "OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0\nTo: sip:user@example.com\nFrom: sip:caller@example.net;tag=384\nMax-Forwards: 3\nCall-ID: unkscm.nasdfasser0q239nwsdfasdkl34\nCSeq: 3923423 OPTIONS\nVia: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234\n",
                "",
            ),
            Status(&[416]),
        ),
        t(
            "novelsc",
            framed(
                "OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0\nTo: sip:user@example.com\nFrom: sip:caller@example.net;tag=384\nMax-Forwards: 3\nCall-ID: novelsc.asdfasser0q239nwsdfasdkl34\nCSeq: 3923423 OPTIONS\nVia: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234\n",
                "",
            ),
            Status(&[416]),
        ),
        // A valid message that a registrar refuses: its AOR is not a SIP URI. The RFC
        // names 400; we send 416 Unsupported URI Scheme, which says why.
        t(
            "unksm2",
            framed(
                "REGISTER sip:example.com SIP/2.0\nTo: isbn:2983792873\nFrom: <http://www.example.com>;tag=3234233\nCall-ID: unksm2.daksdj@hyphenated-host.example.com\nCSeq: 234902 REGISTER\nMax-Forwards: 70\nVia: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw\nContact: <name:John_Smith>\n",
                "",
            ),
            Status(&[416, 400]),
        ),
        t(
            "bext01",
            framed(
                "OPTIONS sip:user@example.com SIP/2.0\nTo: sip:j_user@example.com\nFrom: sip:caller@example.net;tag=242etr\nMax-Forwards: 6\nCall-ID: bext01.0ha0isndaksdj\nRequire: nothingSupportsThis, nothingSupportsThisEither\nProxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis\nCSeq: 8 OPTIONS\nVia: SIP/2.0/TLS fold-and-staple.example.com;branch=z9hG4bKkdjuw\n",
                "",
            ),
            Status(&[420]),
        ),
        t(
            "invut",
            framed(
                "INVITE sip:user@example.com SIP/2.0\nContact: <sip:caller@host5.example.net>\nTo: sip:j.user@example.com\nFrom: sip:caller@example.net;tag=8392034\nMax-Forwards: 70\nCall-ID: invut.0ha0isndaksdjadsfij34n23d\nCSeq: 235448 INVITE\nVia: SIP/2.0/UDP somehost.example.com;branch=z9hG4bKkdjuw\nContent-Type: application/unknownformat\n",
                "<audio> <pcmu port=\"443\"/> </audio>\n",
            ),
            Status(&[415]),
        ),
        t(
            "regaut01",
            framed(
                "REGISTER sip:example.com SIP/2.0\nTo: sip:j.user@example.com\nFrom: sip:j.user@example.com;tag=87321hj23128\nMax-Forwards: 8\nCall-ID: regaut01.0ha0isndaksdj\nCSeq: 9338 REGISTER\nVia: SIP/2.0/TCP 192.0.2.253;branch=z9hG4bKkdjuw\nAuthorization: NoOneKnowsThisScheme opaque-data=here\n",
                "",
            ),
            Accepted,
        ),
        t(
            "multi01",
            framed(
                "INVITE sip:user@company.com SIP/2.0\nContact: <sip:caller@host25.example.net>\nVia: SIP/2.0/UDP 192.0.2.25;branch=z9hG4bKvscd8w\nMax-Forwards: 70\nCSeq: 5 INVITE\nCall-ID: multi01.98asdh@192.0.2.1\nCSeq: 59 INVITE\nCall-ID: multi01.98asdh@192.0.2.2\nFrom: sip:caller@example.com;tag=3413415\nTo: sip:user@example.com\nTo: sip:other@example.net\nFrom: sip:caller@example.net;tag=2923420123\nContent-Type: application/sdp\nContact: <sip:caller@host36.example.net>\nMax-Forwards: 5\n",
                SDP150,
            ),
            Status(&[400]),
        ),
        t(
            "mcl01",
            raw(
                "OPTIONS sip:user@example.com SIP/2.0\nVia: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423\nTo: sip:user@example.com\nFrom: sip:other@example.net;tag=3923942\nCall-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf\nCSeq: 15932 OPTIONS\nContent-Length: 13\nMax-Forwards: 60\nContent-Length: 5\nContent-Type: text/plain\n",
                "There's no way to know how many octets are supposed to be here.\n",
            ),
            Status(&[400]),
        ),
        t(
            "bcast",
            framed(
                "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\nVia: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23\nCall-ID: bcast.0384840201234ksdfak3j2erwedfsASdf\nCSeq: 35 INVITE\nFrom: sip:user@example.com;tag=11141343\nTo: sip:user@example.edu;tag=2229\nContent-Type: application/sdp\nContact: <sip:user@host28.example.com>\n",
                SDP150,
            ),
            Silent,
        ),
        t(
            "zeromf",
            framed(
                "OPTIONS sip:user@example.com SIP/2.0\nTo: sip:user@example.com\nFrom: sip:caller@example.net;tag=3ghsd41\nCall-ID: zeromf.jfasdlfnm2o2l43r5u0asdfas\nCSeq: 39234321 OPTIONS\nVia: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i\nMax-Forwards: 0\n",
                "",
            ),
            Status(&[200]),
        ),
        t(
            "cparam01",
            framed(
                "REGISTER sip:example.com SIP/2.0\nVia: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw\nMax-Forwards: 70\nFrom: sip:watson@example.com;tag=DkfVgjkrtMwaerKKpe\nTo: sip:watson@example.com\nCall-ID: cparam01.70710@saturn.example.com\nCSeq: 2 REGISTER\nContact: sip:+19725552222@gw1.example.net;unknownparam\n",
                "",
            ),
            Accepted,
        ),
        t(
            "cparam02",
            framed(
                "REGISTER sip:example.com SIP/2.0\nVia: SIP/2.0/UDP saturn.example.com:5060;branch=z9hG4bKkdjuw\nMax-Forwards: 70\nFrom: sip:watson@example.com;tag=838293\nTo: sip:watson@example.com\nCall-ID: cparam02.70710@saturn.example.com\nCSeq: 3 REGISTER\nContact: <sip:+19725552222@gw1.example.net;unknownparam>\n",
                "",
            ),
            Accepted,
        ),
        t(
            "regescrt",
            framed(
                "REGISTER sip:example.com SIP/2.0\nTo: sip:user@example.com\nFrom: sip:user@example.com;tag=8\nMax-Forwards: 70\nCall-ID: regescrt.k345asrl3fdbv@192.0.2.1\nCSeq: 14398234 REGISTER\nVia: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw\nM: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>\n",
                "",
            ),
            Accepted,
        ),
        // An INVITE whose Accept excludes every body we could answer with: 406, or
        // an answer without a body.
        t(
            "sdp01",
            framed(
                "INVITE sip:user@example.com SIP/2.0\nTo: sip:j_user@example.com\nContact: <sip:caller@host15.example.net>\nFrom: sip:caller@example.net;tag=234\nMax-Forwards: 5\nCall-ID: sdp01.ndaksdj9342dasdd\nAccept: text/nobodyKnowsThis\nCSeq: 8 INVITE\nVia: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw\nContent-Type: application/sdp\n",
                SDP150,
            ),
            Accepted,
        ),
        // ------------------------------------------------ 3.4 backward compatibility
        t(
            "inv2543",
            framed(
                "INVITE sip:UserB@example.com SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.15\nFrom: <sip:UserA@example.com>\nTo: <sip:UserB@example.com>\nCall-ID: 10.102.190.120.1063.1234\nCSeq: 1 INVITE\nContent-Type: application/sdp\n",
                SDP150,
            ),
            Accepted,
        ),
    ]
}
