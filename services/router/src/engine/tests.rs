//! The engine against real dialplans: the lab's echo program, Dial results,
//! Asterisk's pattern precedence, `i` and `h`, Gosub/Return, variables.

use super::*;
use crate::dialplan::parse_str;
use asterism_proto::router::step::App;
use std::path::Path;

pub(super) fn plan(text: &str) -> Arc<Dialplan> {
    Arc::new(parse_str(Path::new("extensions.conf"), text).unwrap().0)
}

pub(super) fn start(ctx: &str, exten: &str) -> CallStart {
    CallStart {
        call_id: "c1".into(),
        context: ctx.into(),
        extension: exten.into(),
        callerid_num: "62".into(),
        callerid_name: "Bob".into(),
        variables: Default::default(),
    }
}

fn describe(app: &App) -> String {
    match app {
        App::Playback(p) => format!("Playback({})", p.files.join("&")),
        App::Dial(d) => format!(
            "Dial({},{})",
            d.targets
                .iter()
                .map(|t| format!("{}/{}", t.technology, t.resource))
                .collect::<Vec<_>>()
                .join("&"),
            d.timeout_secs
        ),
        App::SayDigits(s) => format!("SayDigits({})", s.digits),
        App::Hangup(h) => format!("Hangup({})", h.cause),
        App::Wait(w) => format!("Wait({})", w.millis),
        App::MusicOnHold(m) => format!("MusicOnHold({},{})", m.class, m.seconds),
        App::Transfer(t) => format!("Transfer({})", t.destination),
        App::Pickup(p) => format!(
            "Pickup({})",
            p.targets
                .iter()
                .map(|t| format!("{}@{}", t.extension, t.context))
                .collect::<Vec<_>>()
                .join("&")
        ),
        other => app_name(other).to_owned(),
    }
}

/// Run a call, answering each step with `answer(step) -> result`; returns
/// the steps taken and the final SIP code.
pub(super) fn run(
    plan: &Arc<Dialplan>,
    s: CallStart,
    answer: impl FnMut(&App) -> StepResult,
) -> (Vec<String>, u32) {
    run_with_db(plan, s, &mut Default::default(), answer)
}

/// [`run`] with an AstDB (a map) the call reads and writes.
pub(super) fn run_with_db(
    plan: &Arc<Dialplan>,
    s: CallStart,
    db: &mut std::collections::BTreeMap<String, String>,
    answer: impl FnMut(&App) -> StepResult,
) -> (Vec<String>, u32) {
    drive(Call::new(plan.clone(), &s), db, answer)
}

/// Run `call` to its end, as the router's service does.
pub(super) fn drive(
    mut call: Call,
    db: &mut std::collections::BTreeMap<String, String>,
    mut answer: impl FnMut(&App) -> StepResult,
) -> (Vec<String>, u32) {
    let mut steps = Vec::new();
    loop {
        match call.advance() {
            Next::System(command) => {
                let must = call.pending_system.as_ref().is_some_and(|(_, m)| *m);
                let status = std::process::Command::new("/bin/sh")
                    .arg("-c")
                    .arg(&command)
                    .status()
                    .ok()
                    .and_then(|s| s.code());
                call.system_done(status, must);
            }
            Next::Db(super::db::DbRequest::Get(keys)) => {
                let values: Vec<_> = keys
                    .iter()
                    .map(|k| (k.clone(), db.get(k).cloned()))
                    .collect();
                call.db_values(values);
            }
            Next::Db(super::db::DbRequest::Write(ops)) => {
                for op in ops {
                    match op {
                        super::db::DbOp::Put(k, v) => {
                            db.insert(k, v);
                        }
                        super::db::DbOp::Del(k) => {
                            db.remove(&k);
                        }
                        super::db::DbOp::DelTree(t) => {
                            db.retain(|k, _| !crate::astdb::under(&t, k));
                        }
                    }
                }
            }
            Next::Step(step) => {
                let app = step.app.unwrap();
                steps.push(describe(&app));
                let mut r = answer(&app);
                r.step_id = step.step_id;
                call.result(&r);
            }
            Next::Finished(f) => return (steps, f.sip_code),
        }
        assert!(steps.len() < 100, "runaway: {steps:?}");
    }
}

pub(super) fn ok(_: &App) -> StepResult {
    StepResult {
        status: StepStatus::Ok as i32,
        ..Default::default()
    }
}

#[test]
fn lab_echo_program() {
    let p = plan(crate::dialplan::parse::tests::LAB);
    let (steps, code) = run(&p, start("default", "3666"), ok);
    assert_eq!(steps, vec!["Answer", "Playback(demo-echotest)", "Echo"]);
    assert_eq!(code, 0);
    let (steps, _) = run(&p, start("default", "61"), ok);
    assert_eq!(steps, vec!["Dial(SIP/nlys,0)"]);
}

#[test]
fn music_on_hold_takes_a_class_and_seconds() {
    let p = plan("[default]\nexten => 1,1,MusicOnHold(jazz,2.5)\n same => n,MusicOnHold()\n");
    let (steps, _) = run(&p, start("default", "1"), ok);
    assert_eq!(steps, vec!["MusicOnHold(jazz,3)", "MusicOnHold(,0)"]);
}

#[test]
fn transfer_names_its_destination_and_refuses_other_technologies() {
    let p = plan(concat!(
        "[default]\nexten => 1,1,Transfer(SIP/63)\n same => n,Transfer(63@pbx)\n",
        " same => n,Transfer(IAX2/63)\n same => n,Transfer()\n",
        " same => n,Playback(${TRANSFERSTATUS})\n"
    ));
    let failed = |app: &App| match app {
        App::Transfer(_) => StepResult {
            status: StepStatus::Ok as i32,
            variables: [("TRANSFERSTATUS".to_owned(), "FAILURE".to_owned())].into(),
            ..Default::default()
        },
        other => ok(other),
    };
    let (steps, _) = run(&p, start("default", "1"), failed);
    assert_eq!(
        steps,
        vec![
            "Transfer(63)",
            "Transfer(63@pbx)",
            "Transfer()",
            "Transfer()",
            "Playback(FAILURE)"
        ]
    );
}

#[test]
fn pickup_names_extensions_in_the_pickers_context_unless_given() {
    let p = plan("[desk]\nexten => _**.,1,Pickup(${EXTEN:2}&63@sales)\n same => n,Pickup()\n");
    let (steps, _) = run(&p, start("desk", "**62"), ok);
    assert_eq!(steps, vec!["Pickup(62@desk&63@sales)", "Pickup()"]);
}

#[test]
fn dial_busy_continues_at_the_next_priority() {
    let p = plan("[default]\nexten => 61,1,Dial(SIP/alice&PJSIP/alice2,20)\n same => n,GotoIf($[\"${DIALSTATUS}\" = \"BUSY\"]?busy)\n same => n,Hangup()\n same => n(busy),Playback(vm-busy)\n same => n,Busy()\n");
    let busy = |app: &App| match app {
        App::Dial(_) => StepResult {
            status: StepStatus::Ok as i32,
            dial_status: "BUSY".into(),
            ..Default::default()
        },
        _ => ok(app),
    };
    let (steps, code) = run(&p, start("default", "61"), busy);
    assert_eq!(
        steps,
        vec![
            "Dial(SIP/alice&PJSIP/alice2,20)",
            "Playback(vm-busy)",
            "Busy"
        ]
    );
    assert_eq!(code, 486);
    let noanswer = |app: &App| match app {
        App::Dial(_) => StepResult {
            status: StepStatus::Ok as i32,
            dial_status: "NOANSWER".into(),
            ..Default::default()
        },
        _ => ok(app),
    };
    let (steps, code) = run(&p, start("default", "61"), noanswer);
    assert_eq!(steps.last().unwrap(), "Hangup(16)");
    assert_eq!(code, 0);
}

#[test]
fn the_called_party_hanging_up_ends_the_call_unless_dial_has_g() {
    let answered = |app: &App| match app {
        App::Dial(_) => StepResult {
            status: StepStatus::Ok as i32,
            dial_status: "ANSWER".into(),
            ..Default::default()
        },
        _ => ok(app),
    };
    let p = plan("[default]\nexten => 61,1,Dial(SIP/alice,20)\nexten => 61,n,Playback(after)\n");
    let (steps, _) = run(&p, start("default", "61"), answered);
    assert_eq!(
        steps,
        vec!["Dial(SIP/alice,20)"],
        "Asterisk hangs the caller up"
    );
    let p = plan("[default]\nexten => 61,1,Dial(SIP/alice,20,gr)\nexten => 61,n,Playback(after)\n");
    let (steps, _) = run(&p, start("default", "61"), answered);
    assert_eq!(
        steps,
        vec!["Dial(SIP/alice,20)", "Playback(after)"],
        "g: go on"
    );
    let p = plan(
        "[default]\nexten => 61,1,Dial(SIP/alice,20,L(60000:g))\nexten => 61,n,Playback(after)\n",
    );
    let (steps, _) = run(&p, start("default", "61"), answered);
    assert_eq!(
        steps.len(),
        1,
        "a g inside an option's argument is not the g option"
    );
}

#[test]
fn timeout_absolute_goes_with_every_step_and_ends_in_t() {
    let p = plan("[default]\nexten => 61,1,Set(TIMEOUT(absolute)=30)\nexten => 61,n,Dial(SIP/alice)\nexten => T,1,Playback(goodbye)\n");
    let plan = p.clone();
    let mut call = Call::new(plan, &start("default", "61"));
    let Next::Step(step) = call.advance() else {
        panic!("a step")
    };
    let left = step.hangup_at_unix_ms - jiff::Timestamp::now().as_millisecond();
    assert!((29_000..=30_000).contains(&left), "30 s from now: {left}");
    call.result(&StepResult {
        step_id: step.step_id,
        status: StepStatus::AbsoluteTimeout as i32,
        ..Default::default()
    });
    let Next::Step(next) = call.advance() else {
        panic!("the T extension")
    };
    assert!(matches!(next.app, Some(App::Playback(_))), "{next:?}");
    assert_eq!(next.hangup_at_unix_ms, 0, "fired once");
    // Without a T extension the call ends.
    let p = plan_without_t();
    let (_, code) = run(&p, start("default", "61"), |_| StepResult {
        status: StepStatus::AbsoluteTimeout as i32,
        ..Default::default()
    });
    assert_eq!(code, 0);
}

fn plan_without_t() -> Arc<Dialplan> {
    plan("[default]\nexten => 61,1,Set(TIMEOUT(absolute)=5)\nexten => 61,n,Dial(SIP/alice)\nexten => 61,n,Playback(never)\n")
}

#[test]
fn autofallthrough_maps_dialstatus_to_a_final_response() {
    let p = plan("[default]\nexten => 61,1,Dial(SIP/alice,5)\n");
    for (status, code) in [
        ("BUSY", 486),
        ("NOANSWER", 480),
        ("CHANUNAVAIL", 480),
        ("CONGESTION", 503),
    ] {
        let (_, got) = run(&p, start("default", "61"), |_| StepResult {
            status: StepStatus::Ok as i32,
            dial_status: status.into(),
            ..Default::default()
        });
        assert_eq!(got, code, "{status}");
    }
}

#[test]
fn pattern_precedence_like_asterisk() {
    let p = plan("[pp]\nexten => _X.,1,SayDigits(1)\nexten => _61X,1,SayDigits(2)\nexten => _6XX,1,SayDigits(3)\nexten => 612,1,SayDigits(4)\nexten => _NXX,1,SayDigits(5)\nexten => _6!,1,SayDigits(6)\nexten => _[6-7]XX,1,SayDigits(7)\nexten => _9.,1,SayDigits(8)\n");
    // number → which extension Asterisk runs
    let table = [
        ("612", "4"),  // literal beats every pattern
        ("613", "2"),  // _61X: '1' (1 char) beats 'X' at position 2
        ("623", "3"),  // _6XX before _6! and _[6-7]XX
        ("6", "6"),    // only _6! takes a lone 6 ... and _X. needs 2+
        ("7123", "1"), // _X. (one or more)
        ("723", "7"),  // _[6-7]XX beats _NXX ([6-7] is 2 chars, N is 8)
        ("823", "5"),
        ("91", "8"), // _9. before _X. ('9' beats 'X')
        ("0", "1"),  // _X. needs 2+ chars: 484, more digits would match
    ];
    for (number, want) in table {
        let mut call = Call::new(p.clone(), &start("pp", number));
        let got = match call.advance() {
            Next::Step(s) => match s.app.unwrap() {
                App::SayDigits(d) => d.digits,
                other => describe(&other),
            },
            Next::Finished(f) => format!("finished {}", f.sip_code),
            Next::Db(r) => panic!("no database here: {r:?}"),
            Next::System(c) => panic!("no System here: {c}"),
        };
        let want = if number == "0" {
            "finished 484".to_owned()
        } else {
            want.to_owned()
        };
        assert_eq!(got, want, "number {number}");
    }
}

#[test]
fn invalid_extension_and_hangup_handler() {
    let p = plan("[in]\nexten => 1,1,Answer\nexten => i,1,Playback(invalid)\n same => n,Hangup(1)\nexten => h,1,NoOp(${INVALID_EXTEN})\n same => n,Playback(never)\n[none]\nexten => 1,1,Answer\n");
    // chan_sip refuses a number that is no extension before the dialplan
    // runs: `i` is for Goto targets that do not exist, not for INVITEs.
    let (steps, code) = run(&p, start("in", "999"), ok);
    assert!(steps.is_empty());
    assert_eq!(code, 404);
    let (steps, code) = run(&p, start("none", "999"), ok);
    assert!(steps.is_empty());
    assert_eq!(code, 404, "no i: refused with 404");
    // The caller hangs up during Answer: h runs, nothing else.
    let (steps, _) = run(&p, start("in", "1"), |_| StepResult {
        status: StepStatus::CallerHungUp as i32,
        ..Default::default()
    });
    assert_eq!(steps, vec!["Answer"]);
}

#[test]
fn overlap_dialling_gets_484_and_no_match_404() {
    let p = plan("[o]\nexten => _5XX,1,Answer\nexten => 7/_1.,1,Answer\ninclude => more\n[more]\nexten => 8123,1,Answer\n");
    let code = |n: &str, caller: &str| {
        let mut s = start("o", n);
        s.callerid_num = caller.into();
        run(&p, s, ok).1
    };
    assert_eq!(code("5", "62"), 484);
    assert_eq!(code("55", "62"), 484);
    assert_eq!(code("555", "62"), 0);
    assert_eq!(code("6", "62"), 404);
    assert_eq!(code("81", "62"), 484, "through an include");
    assert_eq!(code("5555", "62"), 404, "too long never matches");
}

#[test]
fn goto_to_a_missing_target_goes_to_i_then_fails() {
    let p = plan("[g]\nexten => 1,1,Goto(nowhere,1,1)\nexten => i,1,SayDigits(${INVALID_EXTEN})\n[g2]\nexten => 1,1,Goto(nowhere,1,1)\n");
    let (steps, _) = run(&p, start("g", "1"), ok);
    assert_eq!(steps, vec!["SayDigits(1)"]);
    let (steps, code) = run(&p, start("g2", "1"), ok);
    assert!(steps.is_empty());
    assert_eq!(code, 404);
}

#[test]
fn gosub_return_and_variables() {
    let p = plan("[globals]\nPREFIX=9\n[sub]\nexten => s,1,Set(R=${ARG1}${ARG2})\n same => n,Return(${R})\n[main]\nexten => _X.,1,Set(N=${EXTEN:1})\n same => n,Gosub(sub,s,1(${PREFIX},${N}))\n same => n,SayDigits(${GOSUB_RETVAL})\n same => n,SayDigits(${CALLERID(num)}${LEN(${EXTEN})})\n same => n,SayDigits($[${PRIORITY} * 10])\n same => n,Goto(2)\n");
    let mut call = Call::new(p.clone(), &start("main", "5123"));
    let mut got = Vec::new();
    for _ in 0..3 {
        match call.advance() {
            Next::Step(s) => {
                got.push(describe(&s.app.unwrap()));
                call.result(&StepResult {
                    step_id: call.step_id(),
                    status: StepStatus::Ok as i32,
                    ..Default::default()
                });
            }
            Next::Finished(f) => panic!("finished early: {f:?}"),
            Next::Db(r) => panic!("no database here: {r:?}"),
            Next::System(c) => panic!("no System here: {c}"),
        }
    }
    assert_eq!(
        got,
        vec!["SayDigits(9123)", "SayDigits(624)", "SayDigits(50)"]
    );
}

#[test]
fn endless_internal_loops_are_stopped() {
    let p = plan("[l]\nexten => 1,1,NoOp\n same => n,Goto(1)\n");
    let (_, code) = run(&p, start("l", "1"), ok);
    assert_eq!(code, 500);
}

#[test]
fn unknown_application_fails_the_call_when_reached() {
    let p = plan("[u]\nexten => 1,1,Answer\n same => n,Frobnicate()\n same => n,Echo\n");
    let (steps, code) = run(&p, start("u", "1"), ok);
    assert_eq!(steps, vec!["Answer"]);
    assert_eq!(code, 500);
}
