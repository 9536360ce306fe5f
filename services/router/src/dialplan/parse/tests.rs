//! Parser tests: the lab report's dialplan verbatim, Asterisk documentation
//! examples (patterns, `same`, labels, includes), and errors with positions.

use super::*;
use crate::dialplan::Query;
use std::path::Path;

fn parse(text: &str) -> Result<(Dialplan, Diagnostics), Diagnostics> {
    parse_str(Path::new("extensions.conf"), text)
}

fn parse_with_diags(text: &str) -> (Dialplan, Diagnostics) {
    parse(text).unwrap_or_else(|d| panic!("{d}"))
}

/// The lab report's files, joined as one extensions.conf.
pub const LAB: &str = "[general]
static=yes
writeprotect=no

[default]
; default contexte 
exten => 61,1,Dial(SIP/nlys)
exten => 62,1,Dial(SIP/ealbouy)
exten => 3666,1,Answer
exten => 3666,2,Goto(echo,3666,1)

[echo]
exten => 3666,1,Playback(demo-echotest)
exten => 3666,n,Echo
; exten => 3666,n,Playback(demo-echodone)
";

#[test]
fn lab_report_dialplan() {
    let (plan, diags) = parse(LAB).unwrap();
    assert!(diags.0.is_empty(), "{diags}");
    let d = &plan.contexts["default"];
    assert_eq!(d.extensions.len(), 3);
    let p = plan.priority("default", "61", 1).unwrap();
    assert_eq!(
        (p.app.name.as_str(), p.app.args.as_str()),
        ("Dial", "SIP/nlys")
    );
    assert_eq!(p.location.line, 7);
    let answer = plan.priority("default", "3666", 1).unwrap();
    assert_eq!(
        (answer.app.name.as_str(), answer.app.args.as_str()),
        ("Answer", "")
    );
    assert_eq!(
        plan.priority("default", "3666", 2).unwrap().app.args,
        "echo,3666,1"
    );
    let echo = &plan.contexts["echo"].extensions[0];
    assert_eq!(
        echo.priorities.len(),
        2,
        "the commented line is not a priority"
    );
    assert_eq!(echo.priorities[&2].app.name, "Echo");
    assert!(plan.autofallthrough);
}

#[test]
fn same_labels_and_n() {
    let (plan, _) = parse(
        "[demo]\nexten => 100,1,Answer()\n same => n(start),Playback(hello-world)\n same => n,Goto(start)\nexten = 101,1(first),NoOp(x)\n",
    )
    .unwrap();
    let ext = &plan.find("demo", "100").unwrap().1;
    assert_eq!(ext.label("start"), Some(2));
    assert_eq!(ext.priorities[&3].app.args, "start");
    assert_eq!(plan.target("demo", "101", "first"), Some(1));
}

#[test]
fn includes_are_searched_after_own_extensions() {
    let (plan, _) = parse(
        "[a]\ninclude => b\nexten => _6X,1,NoOp(a)\n[b]\nexten => 61,1,NoOp(b)\nexten => 70,1,NoOp(b70)\n",
    )
    .unwrap();
    assert_eq!(
        plan.find("a", "61").unwrap().0.name,
        "a",
        "own pattern beats included literal"
    );
    assert_eq!(plan.find("a", "70").unwrap().0.name, "b");
    assert!(plan.find("a", "80").is_none());
}

#[test]
fn asterisk_documentation_patterns() {
    // From the Asterisk wiki's "Pattern Matching" page.
    let (plan, _) = parse(
        "[users]\nexten => _NXXXXXX,1,NoOp(local)\nexten => _1NXXNXXXXXX,1,NoOp(long distance)\nexten => _011.,1,NoOp(international)\nexten => _9!,1,NoOp(nine)\nexten => 6123,1,NoOp(literal)\n",
    )
    .unwrap();
    let app = |n: &str| {
        plan.find("users", n)
            .map(|(_, e)| e.priorities[&1].app.args.clone())
    };
    assert_eq!(app("5551234").as_deref(), Some("local"));
    assert_eq!(app("12565551234").as_deref(), Some("long distance"));
    assert_eq!(app("01144123").as_deref(), Some("international"));
    assert_eq!(app("9").as_deref(), Some("nine"));
    assert_eq!(app("6123").as_deref(), Some("literal"));
    assert_eq!(app("0"), None);
}

#[test]
fn whitespace_and_escapes() {
    let (plan, _) = parse(
        "[ws]\n   exten=>1,1,Set(A=x\\;y)   ; trailing comment\n\n\texten =>  2 , 1 , NoOp\n",
    )
    .unwrap();
    assert_eq!(plan.priority("ws", "1", 1).unwrap().app.args, "A=x;y");
    assert_eq!(plan.priority("ws", "2", 1).unwrap().app.name, "NoOp");
}

#[test]
fn what_asterisk_reads_past_is_a_warning_with_file_line_and_column() {
    let warnings = |text: &str| -> Vec<String> {
        let (_, d) = parse_with_diags(text);
        d.warnings().map(|d| d.to_string()).collect()
    };
    // No ')': the data runs to the end of the line, as in Asterisk.
    let (plan, d) = parse_with_diags("[a]\nexten => 1,1,Dial(SIP/x\n");
    assert_eq!(plan.priority("a", "1", 1).unwrap().app.args, "SIP/x");
    assert_eq!(
        d.to_string().trim(),
        "extensions.conf:2:14: warning: no closing parenthesis found? 'Dial(SIP/x'"
    );
    assert_eq!(
        warnings("[a]\nexten => 1,x,NoOp\n"),
        ["extensions.conf:2:10: warning: invalid priority/label 'x': line ignored"]
    );
    assert!(warnings("[a]\nexten => 1,0,NoOp\n")[0].contains("invalid priority '0'"));
    assert!(warnings("[a]\nexten => 1,n,NoOp\n")[0]
        .contains("can't use 'next' priority on the first entry"));
    assert!(warnings("[a]\nsame => 1,NoOp\n")[0].contains("no previous extension"));
    assert_eq!(
        warnings("[a]\nexten => _1[]X,1,NoOp\n"),
        ["extensions.conf:2:12: warning: empty [] in pattern: line ignored"]
    );
    // pbx_strsep: a ',' inside '[' does not end the name (nor for Asterisk).
    assert!(warnings("[a]\nexten => _[12,1,NoOp\n")[0].contains("invalid priority/label ''"));
    assert!(warnings("[a]\nexten => 1,1(x,NoOp\n")[0].contains("label missing trailing ')'"));
    assert_eq!(
        warnings("[a]\nnonsense line\nfoo => bar\n"),
        [
            "extensions.conf:2:1: warning: no '=' (equal sign) in 'nonsense line': line ignored",
            "extensions.conf:3:8: warning: unknown directive 'foo': ignored"
        ]
    );
    // What makes Asterisk refuse the file is still an error.
    let e = parse("[a\nexten => 1,1,NoOp\n").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("extensions.conf:1:1: error: no closing ']'"),
        "{e}"
    );
}

#[test]
fn application_data_runs_to_the_last_parenthesis() {
    let (plan, d) = parse_with_diags(concat!(
        "[a]\n",
        "exten => 1,1,Progress() \"Switch verification\"\n",
        "exten => 1,2,Set(X=$[(1+2)*3])\n",
        "exten => 1,3,Answer\n",
        "exten => 1,4,Dial,SIP/x\n",
    ));
    assert_eq!(plan.priority("a", "1", 1).unwrap().app.name, "Progress");
    assert_eq!(plan.priority("a", "1", 1).unwrap().app.args, "");
    assert_eq!(plan.priority("a", "1", 2).unwrap().app.args, "X=$[(1+2)*3]");
    assert_eq!(plan.priority("a", "1", 3).unwrap().app.name, "Answer");
    // The old `App,args` form is no application to Asterisk either.
    assert_eq!(plan.priority("a", "1", 4).unwrap().app.name, "Dial,SIP/x");
    assert_eq!(d.warnings().count(), 1, "{d}");
}

#[test]
fn hints_are_extensions_and_shown() {
    let (plan, d) = parse_with_diags(concat!(
        "[globals]\nDEV=SIP\n",
        "[phones]\n",
        "exten => _11XX,hint,SIP/${EXTEN}\n",
        "exten => 100,hint,${DEV}/${EXTEN}&Custom:DND100\n",
        "exten => 100,1,Dial(SIP/100)\n",
    ));
    assert_eq!(d.warnings().count(), 0, "{d}");
    let ctx = &plan.contexts["phones"];
    assert_eq!(ctx.extensions.len(), 2, "a hint alone makes an extension");
    let hint = |n: &str| {
        ctx.extensions
            .iter()
            .find(|e| e.pattern.as_str() == n)
            .unwrap()
            .hint
            .clone()
            .unwrap()
            .0
    };
    assert_eq!(hint("100"), "SIP/100&Custom:DND100");
    assert_eq!(
        hint("_11XX"),
        "SIP/${EXTEN}",
        "patterns keep their variables"
    );
    assert!(
        !plan.exists("phones", "1101", &Query::anyone()),
        "no priority 1 to run"
    );
}

#[test]
fn caller_id_matching_picks_the_variant_for_the_caller() {
    let (plan, d) = parse_with_diags(concat!(
        "[in]\n",
        "exten => 100/555-1234,1,NoOp(boss)\n",
        "exten => 100/_9XX,1,NoOp(nine hundreds)\n",
        "exten => 100,1,NoOp(anyone)\n",
        "same => n,NoOp(anyone two)\n",
        "exten => _X./_0.,1,NoOp(from zero)\n",
    ));
    assert_eq!(d.warnings().count(), 0, "{d}");
    let run = |caller: &str, number: &str, prio: i32| {
        let q = Query {
            caller,
            now: jiff::Timestamp::now(),
        };
        plan.priority_for("in", number, prio, &q)
            .map(|p| p.app.args.clone())
    };
    assert_eq!(run("5551234", "100", 1).as_deref(), Some("boss"));
    assert_eq!(run("912", "100", 1).as_deref(), Some("nine hundreds"));
    assert_eq!(run("62", "100", 1).as_deref(), Some("anyone"));
    assert_eq!(run("", "100", 1).as_deref(), Some("anyone"));
    // The boss's extension has no priority 2: the next one that has it runs.
    assert_eq!(run("5551234", "100", 2).as_deref(), Some("anyone two"));
    assert_eq!(run("0123", "42", 1).as_deref(), Some("from zero"));
    assert_eq!(run("62", "42", 1), None);
}

#[test]
fn globals_in_extension_names_includes_and_ignorepats() {
    let (plan, d) = parse_with_diags(concat!(
        "[globals]\nOP=0\nPREFIX=9\nOUT=${PREFIX}1\n",
        "[a]\n",
        "exten => ${OP},1,NoOp(operator)\n",
        "exten => _${OUT}NXX,1,NoOp(out)\n",
        "ignorepat => ${PREFIX}\n",
        "include => b|${OP}8:00-17:00|mon-fri|*|*\n",
        "include => c\n",
        "[b]\n[c]\n",
    ));
    assert_eq!(d.warnings().count(), 0, "{d}");
    assert_eq!(plan.priority("a", "0", 1).unwrap().app.args, "operator");
    assert_eq!(plan.priority("a", "91234", 1).unwrap().app.args, "out");
    let a = &plan.contexts["a"];
    assert_eq!(a.ignorepats, ["9"]);
    assert_eq!(a.includes[0].text, "b|08:00-17:00|mon-fri|*|*");
    assert_eq!(a.includes[0].context, "b");
    assert!(a.includes[0].timing.is_some() && a.includes[1].timing.is_none());
    assert_eq!(plan.globals[2], ("OUT".to_owned(), "91".to_owned()));
}

#[test]
fn timed_includes_apply_only_in_their_time() {
    let (plan, _) = parse_with_diags(concat!(
        "[in]\ninclude => day,09:00-17:00,mon-fri,*,*,UTC\ninclude => night\n",
        "[day]\nexten => s,1,NoOp(day)\n",
        "[night]\nexten => s,1,NoOp(night)\n",
    ));
    let at = |when: &str| {
        let q = Query {
            caller: "",
            now: when.parse().unwrap(),
        };
        plan.priority_for("in", "s", 1, &q)
            .unwrap()
            .app
            .args
            .clone()
    };
    assert_eq!(at("2026-12-07T10:00:00Z"), "day");
    assert_eq!(at("2026-12-07T18:00:00Z"), "night");
    assert_eq!(at("2026-12-06T10:00:00Z"), "night", "Sunday");
}

#[test]
fn templates_and_plus_merge_contexts() {
    let (plan, d) = parse_with_diags(concat!(
        "[common](!)\nexten => 0,1,NoOp(operator)\ninclude => shared\n",
        "[office](common)\nexten => 100,1,NoOp(office)\n",
        "[shared]\nexten => 9,1,NoOp(shared)\n",
        "[Office](+)\nexten => 101,1,NoOp(added)\n",
    ));
    assert_eq!(d.warnings().count(), 0, "{d}");
    assert!(
        !plan.contexts.contains_key("common"),
        "a template is no context"
    );
    assert_eq!(
        plan.priority("office", "0", 1).unwrap().app.args,
        "operator"
    );
    assert_eq!(plan.priority("office", "9", 1).unwrap().app.args, "shared");
    assert_eq!(plan.priority("office", "101", 1).unwrap().app.args, "added");
}

#[test]
fn unknown_functions_are_warned_at_load() {
    let (_, d) = parse_with_diags(concat!(
        "[a]\nexten => 1,1,Set(X=${CUT(Y,-,1)}${FROBNICATE(z)})\n",
        "exten => 1,2,Set(NOSUCH(a)=1)\n",
        "exten => 1,3,Set(CALLERID(name)=${TOUPPER(x)})\n",
    ));
    let w: Vec<String> = d.warnings().map(|d| d.to_string()).collect();
    assert_eq!(
        w,
        [
            "extensions.conf:2:14: warning: unknown function 'FROBNICATE'",
            "extensions.conf:3:14: warning: unknown function 'NOSUCH'"
        ]
    );
}

#[test]
fn switches_and_autohints_are_warned_as_not_supported() {
    let (_, d) = parse_with_diags("[a]\nswitch => IAX2/box/default\nautohints = yes\n");
    let w: Vec<String> = d.warnings().map(|d| d.error.message.clone()).collect();
    assert_eq!(w.len(), 2);
    assert!(
        w.iter().all(|m| m.contains("not supported by Asterism")),
        "{w:?}"
    );
}

#[test]
fn unknown_applications_and_includes_are_warnings() {
    let (_, diags) = parse("[a]\ninclude => nowhere\nexten => 1,1,Frobnicate(x)\n").unwrap();
    let w: Vec<String> = diags.warnings().map(|d| d.to_string()).collect();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w.iter()
            .any(|m| m.contains("extensions.conf:3:14: warning: unknown application 'Frobnicate'")),
        "{w:?}"
    );
}

#[test]
fn priorities_are_numbered_as_pbx_config_does() {
    // 'n' follows the previous line even of another extension (FreePBX
    // relies on it), 's' repeats it, '+N' and 'label+N' add to it.
    let (plan, diags) = parse_with_diags(
        "[a]\nexten => 100,1,NoOp(a)\nexten => 200,n,NoOp(b)\nexten => 200,n(top),NoOp(c)\nexten => 200,top+2,NoOp(d)\nexten => 200,s+3,NoOp(e)\n",
    );
    assert_eq!(diags.warnings().count(), 0);
    assert_eq!(plan.priority("a", "200", 2).unwrap().app.args, "b");
    assert_eq!(plan.priority("a", "200", 3).unwrap().app.args, "c");
    assert_eq!(plan.priority("a", "200", 5).unwrap().app.args, "d");
    assert_eq!(plan.priority("a", "200", 8).unwrap().app.args, "e");
}

#[test]
fn a_duplicate_priority_is_a_warning_and_the_first_stays() {
    let (plan, diags) =
        parse_with_diags("[a]\nexten => 1,1,NoOp(first)\nexten => 1,1,NoOp(second)\n");
    assert_eq!(plan.priority("a", "1", 1).unwrap().app.args, "first");
    let w: Vec<String> = diags.warnings().map(|d| d.error.to_string()).collect();
    assert!(
        w[0].contains("already defined at extensions.conf:2"),
        "{w:?}"
    );
}

#[test]
fn n_after_a_hint_is_dropped_silently_like_asterisk() {
    // pbx_config.c: the hint leaves priority -1, so every 'n' until a
    // numbered line is priority 0, which Asterisk skips without a word.
    let (plan, diags) = parse_with_diags(
        "[a]\nexten => 1,hint,SIP/alice\nexten => 1,n,NoOp(x)\nsame => n,NoOp(z)\nexten => 1,1,NoOp(y)\nsame => n,NoOp(w)\n",
    );
    assert_eq!(plan.priority("a", "1", 1).unwrap().app.args, "y");
    assert_eq!(plan.priority("a", "1", 2).unwrap().app.args, "w");
    assert_eq!(diags.warnings().count(), 0);
}
