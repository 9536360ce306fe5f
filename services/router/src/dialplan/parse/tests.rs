//! Parser tests: the lab report's dialplan verbatim, Asterisk documentation
//! examples (patterns, `same`, labels, includes), and errors with positions.

use super::*;
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
fn errors_carry_file_line_and_column() {
    let e = parse("[a]\nexten => 1,1,Dial(SIP/x\n").unwrap_err();
    assert_eq!(
        e.to_string().trim(),
        "extensions.conf:2:18: error: missing ')' after application arguments"
    );
    let e = parse("[a]\nexten => 1,x,NoOp\n").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("extensions.conf:2:12: error: bad priority 'x'"),
        "{e}"
    );
    let e = parse("[a]\nexten => _[12,1,NoOp\n").unwrap_err();
    assert!(e.to_string().starts_with("extensions.conf:2:11:"), "{e}");
    let e = parse("[a]\nexten => 1,n,NoOp\n").unwrap_err();
    assert!(e.to_string().contains("priority 'n' needs"), "{e}");
    let e = parse("[a]\nnonsense line\n").unwrap_err();
    assert!(e.to_string().starts_with("extensions.conf:2:"), "{e}");
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
fn n_after_a_hint_is_priority_zero_and_ignored_like_asterisk() {
    let (plan, diags) = parse_with_diags(
        "[a]\nexten => 1,hint,SIP/alice\nexten => 1,n,NoOp(x)\nexten => 1,1,NoOp(y)\n",
    );
    assert_eq!(plan.priority("a", "1", 1).unwrap().app.args, "y");
    assert_eq!(diags.warnings().count(), 1);
}
