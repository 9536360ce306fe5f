//! Loops, macros, conditional execution, time conditions and local
//! variables, run through the engine as real dialplans use them.

use super::tests::{drive, ok, plan, run, run_with_db, start};
use super::*;

#[test]
fn while_loops_count_exit_and_continue() {
    let p = plan(concat!(
        "[d]\nexten => 1,1,Set(i=0)\n",
        " same => n,While($[${i} < 5])\n",
        " same => n,Set(i=$[${i} + 1])\n",
        " same => n,ExecIf($[${i} = 2]?ContinueWhile())\n",
        " same => n,ExecIf($[${i} = 4]?ExitWhile())\n",
        " same => n,SayDigits(${i})\n",
        " same => n,EndWhile()\n",
        " same => n,SayDigits(9${i})\n",
    ));
    let (steps, _) = run(&p, start("d", "1"), ok);
    assert_eq!(steps, ["SayDigits(1)", "SayDigits(3)", "SayDigits(94)"]);
}

#[test]
fn nested_while_and_a_false_first_test() {
    let p = plan(concat!(
        "[d]\nexten => 1,1,Set(i=0)\n",
        " same => n,While($[${i} < 2])\n",
        " same => n,Set(j=0)\n",
        " same => n,While($[${j} < 2])\n",
        " same => n,SayDigits(${i}${j})\n",
        " same => n,Set(j=$[${j} + 1])\n",
        " same => n,EndWhile\n",
        " same => n,Set(i=$[${i} + 1])\n",
        " same => n,EndWhile\n",
        " same => n,While(0)\n",
        " same => n,SayDigits(never)\n",
        " same => n,EndWhile\n",
        " same => n,SayDigits(end)\n",
    ));
    let (steps, _) = run(&p, start("d", "1"), ok);
    assert_eq!(
        steps,
        [
            "SayDigits(00)",
            "SayDigits(01)",
            "SayDigits(10)",
            "SayDigits(11)",
            "SayDigits(end)"
        ]
    );
}

#[test]
fn exec_if_runs_router_and_edge_applications() {
    let p = plan(concat!(
        "[d]\nexten => 1,1,ExecIf($[1 = 1]?Set(A=yes):Set(A=no))\n",
        " same => n,ExecIf($[1 = 2]?Playback(never):Playback(else-${A}))\n",
        " same => n,ExecIf($[1 = 2]?Playback(never))\n",
        " same => n,ExecIf(1?Goto(jump))\n",
        " same => n,Playback(skipped)\n",
        " same => n(jump),ExecIfTime(*,*,*,*?Playback(always))\n",
        " same => n,ExecIf(1,Playback,old-form)\n",
    ));
    let (steps, _) = run(&p, start("d", "1"), ok);
    assert_eq!(
        steps,
        [
            "Playback(else-yes)",
            "Playback(always)",
            "Playback(old-form)"
        ]
    );
}

#[test]
fn goto_if_time_follows_the_clock() {
    let p = plan(concat!(
        "[d]\nexten => 1,1,GotoIfTime(09:00-17:00,mon-fri,*,*,UTC?open,1:closed,1)\n",
        "exten => open,1,Playback(open)\nexten => closed,1,Playback(closed)\n",
    ));
    let at = |when: &str| {
        let mut call = Call::new(p.clone(), &start("d", "1"));
        call.clock = Some(when.parse().unwrap());
        match call.advance() {
            Next::Step(s) => format!("{:?}", s.app.unwrap()),
            Next::Finished(f) => format!("finished {}", f.sip_code),
            Next::Db(r) => panic!("no database here: {r:?}"),
            Next::System(c) => panic!("no System here: {c}"),
        }
    };
    assert!(at("2026-12-07T10:00:00Z").contains("\"open\""));
    assert!(at("2026-12-07T20:00:00Z").contains("\"closed\""));
}

#[test]
fn macros_run_s_of_macro_name_with_args_and_return() {
    let p = plan(concat!(
        "[macro-stdexten]\nexten => s,1,SayDigits(${ARG1}${MACRO_EXTEN})\n",
        " same => n,Macro(inner,7)\n",
        " same => n,SayDigits(${ARG1})\n",
        "[macro-inner]\nexten => s,1,SayDigits(in${ARG1})\n same => n,MacroExit()\n same => n,SayDigits(never)\n",
        "[macro-busy]\nexten => s,1,Set(MACRO_RESULT=BUSY)\n",
        "[d]\nexten => 61,1,Macro(stdexten,5)\n same => n,SayDigits(after${ARG1}${MACRO_EXTEN})\n",
        "exten => 62,1,Macro(busy)\n same => n,SayDigits(never)\n",
        "exten => 63,1,Macro(nowhere)\n",
    ));
    let (steps, _) = run(&p, start("d", "61"), ok);
    assert_eq!(
        steps,
        [
            "SayDigits(561)",
            "SayDigits(in7)",
            "SayDigits(5)",
            "SayDigits(after)"
        ]
    );
    let (steps, code) = run(&p, start("d", "62"), ok);
    assert!(steps.is_empty() && code == 486, "{steps:?} {code}");
    let (_, code) = run(&p, start("d", "63"), ok);
    assert_eq!(code, 500);
}

#[test]
fn local_variables_end_with_their_gosub() {
    let p = plan(concat!(
        "[d]\nexten => 1,1,Set(X=outer)\n",
        " same => n,Gosub(sub,s,1(a1))\n",
        " same => n,SayDigits(${X}-${ARG1}-${GOSUB_RETVAL})\n",
        "[sub]\nexten => s,1,Set(LOCAL(X)=inner)\n same => n,SayDigits(${X}-${ARG1})\n same => n,Return(done)\n",
    ));
    let (steps, _) = run(&p, start("d", "1"), ok);
    assert_eq!(steps, ["SayDigits(inner-a1)", "SayDigits(outer--done)"]);
}

#[test]
fn set_writes_functions_and_system_is_refused() {
    let p = plan(concat!(
        "[d]\nexten => 1,1,Set(CALLERID(name)=Carol)\n",
        " same => n,Set(CDR(userfield)=x)\n",
        " same => n,NoCDR()\n",
        " same => n,Log(NOTICE,hello ${CALLERID(name)})\n",
        " same => n,TrySystem(rm -rf /)\n",
        " same => n,SayDigits(${CALLERID(name)}${CDR(userfield)}${SYSTEMSTATUS})\n",
        " same => n,System(echo hi)\n",
        " same => n,SayDigits(never)\n",
    ));
    let (steps, code) = run(&p, start("d", "1"), ok);
    assert_eq!(steps, ["SayDigits(CarolxFAILURE)"]);
    assert_eq!(code, 500);
}

#[test]
fn runaway_gosub_recursion_ends_the_call() {
    let p = plan("[d]\nexten => 1,1,Gosub(d,1,1)\n");
    let (_, code) = run(&p, start("d", "1"), ok);
    assert_eq!(code, 500);
}

#[test]
fn the_astdb_is_read_written_and_deleted_through_the_call() {
    let p = plan(concat!(
        "[d]\nexten => 1,1,Set(DB(dnd/${CALLERID(num)})=YES)\n",
        " same => n,Set(DB(cidname/5551234)=Alice)\n",
        " same => n,SayDigits(${DB(dnd/62)}-${DB_EXISTS(dnd/61)}-${DB_EXISTS(cidname/5551234)}${DB_RESULT})\n",
        " same => n,Set(K=cidname)\n",
        " same => n,SayDigits(${DB(${K}/${DB(ptr/x)})})\n",
        " same => n,SayDigits(${DB_DELETE(dnd/62)}/${DB(dnd/62)})\n",
        " same => n,DBdeltree(cidname)\n",
        " same => n,ExecIf(${DB_EXISTS(cidname/5551234)}?SayDigits(still):SayDigits(gone))\n",
    ));
    let mut db = std::collections::BTreeMap::new();
    db.insert("/ptr/x".to_owned(), "5551234".to_owned());
    let (steps, _) = run_with_db(&p, start("d", "1"), &mut db, ok);
    assert_eq!(
        steps,
        [
            "SayDigits(YES-0-1Alice)",
            "SayDigits(Alice)",
            "SayDigits(YES/)",
            "SayDigits(gone)"
        ]
    );
    assert_eq!(
        db.into_iter().collect::<Vec<_>>(),
        [("/ptr/x".to_owned(), "5551234".to_owned())]
    );
}

#[test]
fn system_runs_commands_only_when_enabled_with_app_system_statuses() {
    let p = plan(concat!(
        "[d]\nexten => 1,1,TrySystem(exit 3)\n",
        " same => n,SayDigits(${SYSTEMSTATUS})\n",
        " same => n,System(true)\n",
        " same => n,SayDigits(${SYSTEMSTATUS})\n",
        " same => n,System(/nonexistent/command)\n",
        " same => n,SayDigits(never)\n",
    ));
    let enabled = Call::new(p.clone(), &start("d", "1")).allow_system(true);
    let (steps, code) = drive(enabled, &mut Default::default(), ok);
    assert_eq!(steps, ["SayDigits(APPERROR)", "SayDigits(SUCCESS)"]);
    assert_eq!(code, 500, "a command that cannot run hangs System up");
    let (steps, _) = run(&p, start("d", "1"), ok);
    assert_eq!(steps, ["SayDigits(FAILURE)"], "refused unless enabled");
}

#[test]
fn local_channels_run_their_extension_and_join_its_phones_to_the_dial() {
    let p = plan(concat!(
        "[in]\nexten => 70,1,Dial(Local/61@internal&SIP/bob&Local/group@internal/n,30,r)\n",
        "exten => 71,1,Dial(Local/dnd@internal)\n same => n,SayDigits(${DIALSTATUS})\n",
        "exten => 72,1,Dial(Local/loop@internal)\n",
        "[internal]\nexten => 61,1,Ringing()\n same => n,GotoIf(${DB_EXISTS(DND/61)}?dnd)\n",
        " same => n,Dial(SIP/alice/${EXTEN},20)\n same => n(dnd),Hangup(17)\n",
        "exten => group,1,Set(X=1)\n same => n,Dial(SIP/carol&Local/62@internal)\n",
        "exten => 62,1,Dial(SIP/dave)\n",
        "exten => dnd,1,Playback(do-not-disturb)\n",
        "exten => loop,1,Dial(Local/loop@internal)\n",
    ));
    let mut db = std::collections::BTreeMap::new();
    let (steps, _) = run_with_db(&p, start("in", "70"), &mut db, ok);
    assert_eq!(
        steps,
        ["Dial(SIP/bob&SIP/alice&SIP/carol&SIP/dave,30)"],
        "Local targets replaced by the phones their extensions dial"
    );
    db.insert("/DND/61".into(), "YES".into());
    let (steps, _) = run_with_db(&p, start("in", "70"), &mut db, ok);
    assert_eq!(
        steps,
        ["Dial(SIP/bob&SIP/carol&SIP/dave,30)"],
        "DND read from the AstDB"
    );
    // An extension that plays something itself answers the caller's Dial:
    // its prompt is the caller's, then (no g) the caller is hung up.
    let (steps, _) = run(&p, start("in", "71"), ok);
    assert_eq!(steps, ["Playback(do-not-disturb)"]);
    // A Local channel dialling itself ends at the depth limit.
    let (steps, _) = run(&p, start("in", "72"), ok);
    assert_eq!(steps, ["Dial(,0)"]);
}

#[test]
fn local_channels_inherit_underscore_variables_as_asterisk() {
    let p = plan(concat!(
        "[in]\nexten => 1,1,Set(__FROM=abc)\n same => n,Set(_ONE=1)\n same => n,Set(PLAIN=2)\n",
        " same => n,Set(_GONE=x)\n same => n,Set(GONE=y)\n",
        " same => n,Dial(Local/a@l)\n",
        "[l]\nexten => a,1,Dial(SIP/a-${FROM}-${ONE}-${PLAIN}-${GONE}&Local/b@l)\n",
        "exten => b,1,Dial(SIP/b-${FROM}-${ONE})\n",
    ));
    let (steps, _) = run(&p, start("in", "1"), ok);
    assert_eq!(steps, ["Dial(SIP/a-abc-1--&SIP/b-abc-,0)"]);
}

#[test]
fn local_channel_fan_out_is_bounded() {
    // Each level dials eight Local channels, four levels deep: 4,680
    // channels unbounded; the call runs 64 at most and still dials.
    let mut text = String::from("[in]\nexten => 1,1,Dial(Local/0@f)\n[f]\n");
    let eight = |n: &str| {
        (0..8)
            .map(|i| format!("Local/{n}{i}@f"))
            .collect::<Vec<_>>()
            .join("&")
    };
    text.push_str(&format!(
        "exten => _X,1,Dial({}&SIP/p${{EXTEN}})\n",
        eight("${EXTEN}")
    ));
    text.push_str(&format!(
        "exten => _XX,1,Dial({}&SIP/p${{EXTEN}})\n",
        eight("${EXTEN}")
    ));
    text.push_str(&format!(
        "exten => _XXX,1,Dial({}&SIP/p${{EXTEN}})\n",
        eight("${EXTEN}")
    ));
    text.push_str("exten => _XXXX,1,Dial(SIP/p${EXTEN})\n");
    let p = plan(&text);
    let (steps, _) = run(&p, start("in", "1"), ok);
    let targets = steps[0].matches("SIP/").count();
    assert!(
        (1..=64).contains(&targets),
        "{targets} targets: {}",
        steps[0]
    );
}

/// Dials answered (ANSWER), everything else OK.
fn answered(app: &asterism_proto::router::step::App) -> StepResult {
    match app {
        asterism_proto::router::step::App::Dial(_) => StepResult {
            status: StepStatus::Ok as i32,
            dial_status: "ANSWER".into(),
            ..Default::default()
        },
        _ => ok(app),
    }
}

#[test]
fn a_local_channel_that_answers_first_takes_the_callers_dial() {
    let p = plan(concat!(
        "[in]\nexten => 80,1,Set(_KEEP=k)\n same => n,Dial(Local/ivr@l,,g)\n",
        " same => n,SayDigits(${DIALSTATUS}-${INNER})\n",
        "exten => 81,1,Dial(Local/busy@l)\n same => n,SayDigits(${DIALSTATUS})\n",
        "exten => 82,1,Dial(Local/ivr@l&SIP/bob,,g)\n same => n,SayDigits(${DIALSTATUS})\n",
        "exten => 83,1,Dial(Local/wait@l&SIP/bob)\n",
        "[l]\nexten => ivr,1,Answer()\n same => n,Set(INNER=1)\n same => n,Playback(hello-${KEEP})\n",
        " same => n,Dial(SIP/alice,20)\n same => n,SayDigits(${DIALSTATUS})\n",
        "exten => busy,1,Wait(1)\n same => n,Busy()\n",
        "exten => wait,1,Wait(1)\n same => n,Dial(SIP/carol)\n",
    ));
    // Its steps run on the caller's channel with its own variables; when
    // it ends, the caller's Dial is ANSWER and g goes on.
    let (steps, _) = run(&p, start("in", "80"), answered);
    assert_eq!(
        steps,
        [
            "Answer",
            "Playback(hello-k)",
            "Dial(SIP/alice,20)",
            "SayDigits(ANSWER-)"
        ],
        "the Local channel's Dial has no g: it ends when alice hangs up"
    );
    // A Local channel that waits, then is busy: the caller's Dial is BUSY
    // (the Busy is the Local channel's, not sent to the caller).
    let (steps, _) = run(&p, start("in", "81"), ok);
    assert_eq!(steps, ["Wait(1000)", "SayDigits(BUSY)"]);
    // Answering wins over the other targets (they would ring an instant).
    let (steps, _) = run(&p, start("in", "82"), answered);
    assert_eq!(steps[0], "Answer");
    assert_eq!(steps.last().unwrap(), "SayDigits(ANSWER)");
    // Waiting beside another target is not taken: bob rings alone.
    let (steps, _) = run(&p, start("in", "83"), ok);
    assert_eq!(steps, ["Dial(SIP/bob,0)"]);
}

#[test]
fn the_callers_hang_up_ends_the_local_channel_with_its_h() {
    let p = plan(concat!(
        "[in]\nexten => 80,1,Dial(Local/ivr@l)\n same => n,SayDigits(never)\n",
        "[l]\nexten => ivr,1,Answer()\n same => n,Playback(long)\n same => n,SayDigits(never)\n",
        "exten => h,1,Set(DB(local/h)=ran)\n",
    ));
    let mut db = std::collections::BTreeMap::new();
    let (steps, _) = run_with_db(&p, start("in", "80"), &mut db, |app| match app {
        asterism_proto::router::step::App::Playback(_) => StepResult {
            status: StepStatus::CallerHungUp as i32,
            ..Default::default()
        },
        _ => ok(app),
    });
    assert_eq!(steps, ["Answer", "Playback(long)"]);
    assert_eq!(db.get("/local/h").map(String::as_str), Some("ran"));
}

#[test]
fn a_blind_transfer_by_the_called_party_takes_the_caller_there() {
    let p = plan(concat!(
        "[in]\nexten => 80,1,Dial(SIP/alice,20,t)\n same => n,SayDigits(never)\n",
        "exten => 81,1,Set(TRANSFER_CONTEXT=desk)\n same => n,Dial(SIP/alice,20,t)\n",
        "exten => 63,1,SayDigits(63)\n",
        "[desk]\nexten => 63,1,SayDigits(desk)\n",
    ));
    let transferred = |app: &asterism_proto::router::step::App| match app {
        asterism_proto::router::step::App::Dial(d) => StepResult {
            status: StepStatus::Ok as i32,
            dial_status: "ANSWER".into(),
            transfer_to: "63".into(),
            error: d.transfer_context.clone(),
            ..Default::default()
        },
        other => ok(other),
    };
    let (steps, _) = run(&p, start("in", "80"), transferred);
    assert_eq!(steps, ["Dial(SIP/alice,20)", "SayDigits(63)"]);
    let (steps, _) = run(&p, start("in", "81"), transferred);
    assert_eq!(
        steps,
        ["Dial(SIP/alice,20)", "SayDigits(desk)"],
        "TRANSFER_CONTEXT"
    );
    // A REFER from the called party names its own context.
    let by_refer = |app: &asterism_proto::router::step::App| match app {
        asterism_proto::router::step::App::Dial(d) => {
            assert_eq!(d.transfer_context, "in", "every Dial says where");
            StepResult {
                status: StepStatus::Ok as i32,
                dial_status: "ANSWER".into(),
                transfer_to: "63".into(),
                transfer_context: "desk".into(),
                ..Default::default()
            }
        }
        other => ok(other),
    };
    let p = plan("[in]\nexten => 82,1,Dial(SIP/alice,20)\n[desk]\nexten => 63,1,SayDigits(desk)\n");
    let (steps, _) = run(&p, start("in", "82"), by_refer);
    assert_eq!(steps, ["Dial(SIP/alice,20)", "SayDigits(desk)"], "REFER");
}

#[test]
fn shared_variables_cross_to_the_channel_named() {
    let p = plan(concat!(
        "[in]\nexten => 90,1,Set(SHARED(K)=fromcaller)\n",
        " same => n,Set(__ME=${CHANNEL})\n",
        " same => n,Dial(Local/x@l,,g)\n",
        " same => n,SayDigits(${SHARED(BACK)}-${CUT(CHANNEL,-,1)})\n",
        " same => n,Set(SHARED(Z,SIP/nobody-00000000)=lost)\n",
        " same => n,SayDigits(${SHARED(Z,SIP/nobody-00000000)}.)\n",
        "[l]\nexten => x,1,Answer()\n",
        " same => n,Set(SHARED(BACK,${ME})=fromlocal)\n",
        " same => n,SayDigits(${SHARED(K,${ME})}-${CHANNEL(name)})\n",
    ));
    let (steps, _) = run(&p, start("in", "90"), ok);
    assert_eq!(steps.len(), 4, "{steps:?}");
    assert!(
        steps[1].starts_with("SayDigits(fromcaller-Local/x@l-"),
        "{steps:?}"
    );
    assert!(steps[1].ends_with(";2)"), "{steps:?}");
    assert_eq!(
        steps[2], "SayDigits(fromlocal-SIP/62)",
        "the caller's channel"
    );
    assert_eq!(
        steps[3], "SayDigits(.)",
        "no such channel: nothing set or read"
    );
}

#[test]
fn a_local_channel_alone_runs_its_dial_and_what_follows_for_the_caller() {
    let p = plan(concat!(
        "[in]\nexten => 95,1,Dial(Local/fm@l,30,rm(jazz))\n same => n,SayDigits(never)\n",
        "[l]\nexten => fm,1,Dial(SIP/alice,60,t)\n same => n,SayDigits(vm-${DIALSTATUS})\n",
    ));
    let mut options = Vec::new();
    let (steps, _) = run(&p, start("in", "95"), |app| match app {
        asterism_proto::router::step::App::Dial(d) => {
            options.push(d.options.clone());
            StepResult {
                status: StepStatus::Ok as i32,
                dial_status: "NOANSWER".into(),
                ..Default::default()
            }
        }
        other => ok(other),
    });
    // Its Dial, bounded by the caller's 30 s and carrying r and m(jazz),
    // then its voicemail say answers the caller; the Local channel's end
    // is the caller's Dial's ANSWER, and without g the caller's end.
    assert_eq!(steps, ["Dial(SIP/alice,30)", "SayDigits(vm-NOANSWER)"]);
    assert_eq!(options, ["trm(jazz)"]);
}
