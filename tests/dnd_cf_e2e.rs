//! Do not disturb and call forwarding the classic way (issue 17): feature
//! codes that keep a flag in the AstDB (`*78`/`*79` for DND, `*72<number>`/
//! `*73` for unconditional forwarding, keyed by the caller's number) and
//! extensions that look them up before dialling, as Asterisk books and
//! wikis write them; run unchanged by the router (its AstDB: memory here,
//! Redis when it has `ASTERISM_REDIS_URL`, as `tests/astdb_e2e.rs` shows).

mod common;

use common::calls::{both, refused_scenario, scenario, Sipp};
use common::Topology;

const DIALPLAN: &str = r"[general]
static=yes

[default]
exten => *78,1,Answer()
 same => n,Set(DB(DND/${CALLERID(num)})=YES)
 same => n,Hangup()
exten => *79,1,Answer()
 same => n,DBdel(DND/${CALLERID(num)})
 same => n,Hangup()
exten => _*72.,1,Answer()
 same => n,Set(DB(CFIM/${CALLERID(num)})=${EXTEN:3})
 same => n,Hangup()
exten => *73,1,Answer()
 same => n,Set(gone=${DB_DELETE(CFIM/${CALLERID(num)})})
 same => n,Hangup()

exten => 61,1,Set(DEVICE=alice)
 same => n,Goto(desk,61,1)
exten => 62,1,Set(DEVICE=bob)
 same => n,Goto(desk,62,1)
exten => 63,1,Set(DEVICE=carol)
 same => n,Goto(desk,63,1)

[desk]
exten => _6X,1,GotoIf(${DB_EXISTS(DND/${EXTEN})}?dnd)
 same => n,GotoIf(${DB_EXISTS(CFIM/${EXTEN})}?cfim)
 same => n,Dial(SIP/${DEVICE},20)
 same => n,Hangup()
 same => n(dnd),Busy(5)
 same => n(cfim),Dial(Local/${DB(CFIM/${EXTEN})}@default)
";

const ALICE: (&str, &str) = ("alice", "alice61");
const BOB: (&str, &str) = ("bob", "bob62");

#[test]
fn dnd_and_call_forward_feature_codes_run_unchanged() {
    let t = Topology::start_with(&[], Some(DIALPLAN));
    let (sipp, edge) = (Sipp::local(&t.dir.0), t.sip_addr());
    // bob (62) turns DND on: alice's call gets busy.
    let code = |number: &str| {
        let r = sipp.call(edge, &scenario("caller_waits.xml"), BOB, number, 0);
        assert!(r.success, "bob dials {number}:\n{}", r.output);
    };
    code("*78");
    let busy = sipp.call(edge, &refused_scenario(&t.dir.0, 486), ALICE, "62", 0);
    assert!(busy.success, "486 while bob is on DND:\n{}", busy.output);
    // DND off, forward to carol (63): alice's call to 62 rings carol.
    code("*79");
    code("*7263");
    let carol = sipp.callee(edge, ("carol", "carol63"), "callee_answer.xml", 0);
    both(
        sipp.call(edge, &scenario("caller_hangs_up.xml"), ALICE, "62", 300),
        carol,
    );
    // Forwarding off: bob's own phone rings again.
    code("*73");
    let bob = sipp.callee(edge, BOB, "callee_answer.xml", 0);
    both(
        sipp.call(edge, &scenario("caller_hangs_up.xml"), ALICE, "62", 300),
        bob,
    );
}
