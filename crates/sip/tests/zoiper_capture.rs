//! The REGISTER Zoiper 5 sent to Asterisk 13 in the lab report's capture
//! (frame 1430), parsed field by field, and the 200 OK Asterisk answered
//! with (frame 1431) reproduced header by header from it.

use asterism_sip::digest::parse_authorization;
use asterism_sip::framing::frame_datagram;
use asterism_sip::header::Via;
use asterism_sip::response::response_to;
use asterism_sip::validate::check_request;
use asterism_sip::{HeaderName, Method, SipMessage};

const FRAME_1430: &str = "REGISTER sip:10.255.150.110;transport=UDP SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.213.0.154:52210;branch=z9hG4bK-524287-1---2c2184ae638ec89f;rport\r\n\
Max-Forwards: 70\r\n\
Contact: <sip:nlys@10.213.0.154:52210;rinstance=2b321712b1806966;transport=UDP>\r\n\
To: <sip:nlys@10.255.150.110;transport=UDP>\r\n\
From: <sip:nlys@10.255.150.110;transport=UDP>;tag=30ca253f\r\n\
Call-ID: qfDsLi2ZtF68jPaCdPbdCQ..\r\n\
CSeq: 2 REGISTER\r\n\
Expires: 60\r\n\
Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n\
User-Agent: Z 5.3.7 rv2.9.30-mod\r\n\
Authorization: Digest username=\"nlys\",realm=\"asterisk\",nonce=\"47a5e6d5\",uri=\"sip:10.255.150.110;transport=UDP\",response=\"2815130c06b53ab85d1602dff361fe7d\",algorithm=MD5\r\n\
Allow-Events: presence, kpml, talk\r\n\
Content-Length: 0\r\n\r\n";

#[test]
fn zoiper_register_parses_field_by_field() {
    let bytes = FRAME_1430.as_bytes();
    let SipMessage::Request(req) =
        SipMessage::parse(bytes, frame_datagram(bytes).unwrap()).unwrap()
    else {
        panic!("a request")
    };
    assert_eq!(req.method, Method::REGISTER);
    assert_eq!(req.uri, "sip:10.255.150.110;transport=UDP");
    let c = check_request(&req).unwrap();
    // Request-URI
    assert_eq!(c.uri.host.to_string(), "10.255.150.110");
    assert_eq!(c.uri.param("transport"), Some(Some("UDP")));
    // Via
    let via = &c.vias[0];
    assert_eq!(via.transport, "UDP");
    assert_eq!(via.host.to_string(), "10.213.0.154");
    assert_eq!(via.port, Some(52210));
    assert_eq!(via.branch(), Some("z9hG4bK-524287-1---2c2184ae638ec89f"));
    assert!(via.params.has("rport"));
    // Max-Forwards, Expires
    assert_eq!(c.max_forwards, Some(70));
    assert_eq!(c.expires, Some(60));
    // Contact
    let contact = asterism_sip::header::NameAddr::parse(
        req.headers.get(&HeaderName::Contact).unwrap(),
        "Contact",
    )
    .unwrap();
    assert_eq!(contact.uri.user.as_deref(), Some("nlys"));
    assert_eq!(contact.uri.port, Some(52210));
    assert_eq!(
        contact.uri.param("rinstance"),
        Some(Some("2b321712b1806966"))
    );
    // To, From
    assert_eq!(c.to.uri.user.as_deref(), Some("nlys"));
    assert_eq!(c.to.tag(), None);
    assert_eq!(c.from.tag(), Some("30ca253f"));
    assert_eq!(c.from.uri.param("transport"), Some(Some("UDP")));
    // Call-ID, CSeq
    assert_eq!(c.call_id, "qfDsLi2ZtF68jPaCdPbdCQ..");
    assert_eq!((c.cseq.seq, c.cseq.method.as_str()), (2, "REGISTER"));
    // Allow is a list header: one entry per method.
    assert_eq!(req.headers.get_all(&HeaderName::Allow).count(), 10);
    assert_eq!(
        req.headers.get(&HeaderName::UserAgent),
        Some("Z 5.3.7 rv2.9.30-mod")
    );
    // Authorization (RFC 2069 style: no qop, no nc)
    let auth = parse_authorization(req.headers.get(&HeaderName::Authorization).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(auth.username, "nlys");
    assert_eq!(auth.realm, "asterisk");
    assert_eq!(auth.nonce, "47a5e6d5");
    assert_eq!(auth.uri, "sip:10.255.150.110;transport=UDP");
    assert_eq!(auth.response, "2815130c06b53ab85d1602dff361fe7d");
    assert_eq!(auth.algorithm.as_deref(), Some("MD5"));
    assert_eq!(auth.qop, None);
    assert_eq!(auth.nc, None);
    assert_eq!(req.headers.get_all(&HeaderName::AllowEvents).count(), 3);
}

#[test]
fn the_200_copies_the_request_like_asterisk_did() {
    let bytes = FRAME_1430.as_bytes();
    let SipMessage::Request(req) =
        SipMessage::parse(bytes, frame_datagram(bytes).unwrap()).unwrap()
    else {
        panic!()
    };
    let mut via = Via::parse(req.headers.get(&HeaderName::Via).unwrap()).unwrap();
    via.stamp_received("10.213.0.154".parse().unwrap(), 52210, false);
    let r = response_to(&req.headers, 200, Some(via.to_string()), Some("as53c50b59"));
    let h = &r.headers;
    assert_eq!(
        h.get(&HeaderName::Via),
        Some("SIP/2.0/UDP 10.213.0.154:52210;branch=z9hG4bK-524287-1---2c2184ae638ec89f;received=10.213.0.154;rport=52210")
    );
    assert_eq!(
        h.get(&HeaderName::From),
        Some("<sip:nlys@10.255.150.110;transport=UDP>;tag=30ca253f")
    );
    assert_eq!(
        h.get(&HeaderName::To),
        Some("<sip:nlys@10.255.150.110;transport=UDP>;tag=as53c50b59")
    );
    assert_eq!(h.get(&HeaderName::CallId), Some("qfDsLi2ZtF68jPaCdPbdCQ.."));
    assert_eq!(h.get(&HeaderName::CSeq), Some("2 REGISTER"));
}
