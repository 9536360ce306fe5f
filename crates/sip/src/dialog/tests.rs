use super::*;
use crate::transport::Kind;
use crate::validate::check_request as check;
use crate::SipMessage;

fn flow() -> Flow {
    Flow {
        kind: Kind::Udp,
        remote: "127.0.0.1:5062".parse().unwrap(),
    }
}

fn parse(text: &str) -> (Request, Checked) {
    let Some(SipMessage::Request(r)) =
        SipMessage::parse_datagram(text.replace('\n', "\r\n").as_bytes())
    else {
        panic!("not a request")
    };
    let c = check(&r).unwrap();
    (r, c)
}

fn invite() -> (Request, Checked) {
    parse(
        "INVITE sip:61@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-1
From: \"Bob\" <sip:bob@127.0.0.1>;tag=bobtag
To: <sip:61@127.0.0.1>
Call-ID: call-1
CSeq: 5 INVITE
Contact: <sip:bob@127.0.0.1:5062>
Record-Route: <sip:p1;lr>
Record-Route: <sip:p2;lr>
Max-Forwards: 70
Content-Length: 0

",
    )
}

fn in_dialog(method: &str, from_tag: &str, to_tag: &str, cseq: u32) -> (Request, Checked) {
    parse(&format!(
        "{method} sip:61@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-{cseq}
From: <sip:bob@127.0.0.1>;tag={from_tag}
To: <sip:61@127.0.0.1>;tag={to_tag}
Call-ID: call-1
CSeq: {cseq} {method}
Max-Forwards: 70
Content-Length: 0

"
    ))
}

fn uas() -> Dialog {
    let (r, c) = invite();
    let contact = NameAddr::parse("<sip:61@127.0.0.1:5060>", "Contact").unwrap();
    Dialog::uas(&r, &c, "ours", flow(), "127.0.0.1:5060", contact)
}

#[test]
fn a_uas_dialog_is_named_by_both_tags_and_targets_the_contact() {
    let d = uas();
    assert_eq!(
        d.id(),
        DialogId {
            call_id: "call-1".into(),
            local_tag: "ours".into(),
            remote_tag: "bobtag".into()
        }
    );
    assert_eq!(d.remote_target, "sip:bob@127.0.0.1:5062");
    assert_eq!(d.route_set, vec!["<sip:p1;lr>", "<sip:p2;lr>"]);
}

#[test]
fn only_requests_with_both_tags_match() {
    let d = uas();
    assert!(d.matches(&in_dialog("BYE", "bobtag", "ours", 6).1));
    assert!(!d.matches(&in_dialog("BYE", "other", "ours", 6).1));
    assert!(!d.matches(&in_dialog("BYE", "bobtag", "theirs", 6).1));
    let (_, no_to_tag) = parse(
        "BYE sip:61@127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-9
From: <sip:bob@127.0.0.1>;tag=bobtag
To: <sip:61@127.0.0.1>
Call-ID: call-1
CSeq: 9 BYE
Max-Forwards: 70
Content-Length: 0

",
    );
    assert!(!d.matches(&no_to_tag));
}

#[test]
fn a_lower_cseq_is_stale_ack_and_cancel_never_are() {
    let mut d = uas();
    let cseq = |n, m: &Method| CSeq::new(n, m);
    assert_eq!(
        d.check_order(&Method::INFO, &cseq(7, &Method::INFO)),
        Order::InOrder
    );
    assert_eq!(
        d.check_order(&Method::INFO, &cseq(6, &Method::INFO)),
        Order::Stale
    );
    assert_eq!(
        d.check_order(&Method::ACK, &cseq(5, &Method::ACK)),
        Order::InOrder
    );
    assert_eq!(
        d.check_order(&Method::CANCEL, &cseq(5, &Method::CANCEL)),
        Order::InOrder
    );
    assert_eq!(
        d.check_order(&Method::BYE, &cseq(8, &Method::BYE)),
        Order::InOrder
    );
}

#[test]
fn in_dialog_requests_count_up_and_carry_the_route_set() {
    let mut d = uas();
    let first = d.local_cseq;
    let (key, bye) = d.request(Method::BYE);
    assert_eq!(bye.uri, "sip:bob@127.0.0.1:5062");
    let c = check(&bye).unwrap();
    assert_eq!(c.cseq, CSeq::new(first + 1, &Method::BYE));
    assert_eq!(c.from.tag(), Some("ours"));
    assert_eq!(c.to.tag(), Some("bobtag"));
    assert_eq!(c.vias[0].branch(), Some(key.branch.as_str()));
    let routes: Vec<&str> = bye.headers.get_all(&HeaderName::Route).collect();
    assert_eq!(routes, vec!["<sip:p1;lr>", "<sip:p2;lr>"]);
    let ack = d.ack(3);
    assert_eq!(check(&ack).unwrap().cseq, CSeq::new(3, &Method::ACK));
    assert_ne!(
        check(&ack).unwrap().vias[0].branch(),
        Some(key.branch.as_str())
    );
}

#[test]
fn a_uac_learns_tag_target_and_reversed_route_set_from_the_2xx() {
    let mut d = uas();
    d.remote = NameAddr::parse("<sip:alice@127.0.0.1>", "To").unwrap();
    let mut r = Response {
        code: 200,
        reason: "OK".into(),
        headers: crate::message::Headers::new(),
        body: bytes::Bytes::new(),
    };
    r.headers
        .push(HeaderName::To, "<sip:alice@127.0.0.1>;tag=alicetag");
    r.headers
        .push(HeaderName::Contact, "<sip:alice@127.0.0.1:5070>");
    r.headers.push(HeaderName::RecordRoute, "<sip:a;lr>");
    r.headers.push(HeaderName::RecordRoute, "<sip:b;lr>");
    d.confirm_from(&r);
    assert_eq!(d.remote.tag(), Some("alicetag"));
    assert_eq!(d.remote_target, "sip:alice@127.0.0.1:5070");
    assert_eq!(d.route_set, vec!["<sip:b;lr>", "<sip:a;lr>"]);
}
