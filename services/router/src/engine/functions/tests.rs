//! Each function against what Asterisk gives for the same input.

use super::format::sprintf;
use super::*;
use crate::dialplan::parse_str;
use asterism_proto::router::CallStart;
use std::path::Path;
use std::sync::Arc;

fn call() -> Call {
    let plan = parse_str(
        Path::new("e.conf"),
        "[globals]\nG=1\n[d]\nexten => 100,1,NoOp\n",
    )
    .unwrap()
    .0;
    let mut c = Call::new(
        Arc::new(plan),
        &CallStart {
            call_id: "abc@host".into(),
            context: "d".into(),
            extension: "100".into(),
            callerid_num: "62".into(),
            callerid_name: "Bob".into(),
            variables: Default::default(),
        },
    );
    c.vars.insert("NUMS".into(), "a-b-c-d".into());
    c
}

fn x(c: &Call, text: &str) -> String {
    super::super::subst::expand(text, c)
}

#[test]
fn cut_fields_as_func_cut() {
    assert_eq!(cut("a-b-c-d", "", "2"), "b");
    assert_eq!(cut("a-b-c-d", "-", "2-3"), "b-c");
    assert_eq!(cut("a-b-c-d", "-", "-2"), "a-b");
    assert_eq!(cut("a-b-c-d", "-", "3-"), "c-d");
    assert_eq!(cut("a-b-c-d", "-", "1&4"), "a-d");
    assert_eq!(cut("1.2.3", ".", "2"), "2");
    let c = call();
    assert_eq!(x(&c, "${CUT(NUMS,-,2)}"), "b");
}

#[test]
fn strings_and_tests() {
    let c = call();
    assert_eq!(
        x(&c, "${ISNULL()}${ISNULL(x)}${EXISTS(x)}${EXISTS()}"),
        "1010"
    );
    assert_eq!(x(&c, "${TOUPPER(abc)}${TOLOWER(DEF)}"), "ABCdef");
    assert_eq!(x(&c, "${QUOTE(say \"hi\")}"), "\"say \\\"hi\\\"\"");
    assert_eq!(filter("0-9", "+1 (555) 123-4567"), "15551234567");
    assert_eq!(filter("a-z\\x20", "Hi there!"), "i there");
    assert_eq!(x(&c, "${REGEX(\"^6[0-9]$\" ${CALLERID(num)})}"), "1");
    assert_eq!(x(&c, "${REGEX(\"^7\" 62)}"), "0");
    assert_eq!(x(&c, "${LEN(${STRFTIME(0,UTC,%Y-%m-%d %H:%M)})}"), "16");
    assert_eq!(x(&c, "${STRFTIME(86400,UTC,%Y-%m-%d)}"), "1970-01-02");
}

#[test]
fn numbers() {
    assert_eq!(math::eval("3*2", ""), "6.000000");
    assert_eq!(math::eval("7/2", "i"), "3");
    assert_eq!(math::eval("-7+2", "int"), "-5");
    assert_eq!(math::eval("2^10", "i"), "1024");
    assert_eq!(math::eval("255 AND 15", "h"), "f");
    assert_eq!(math::eval("5>3", "i"), "1");
    assert_eq!(
        sprintf(
            "%05d|%-4s|%x|%.2f|%%",
            &["42".into(), "ab".into(), "255".into(), "3.14159".into()]
        ),
        "00042|ab  |ff|3.14|%"
    );
    assert_eq!(sprintf("%3s%+d", &["a".into(), "5".into()]), "  a+5");
    let c = call();
    let r: i64 = x(&c, "${RAND(5,7)}").parse().unwrap();
    assert!((5..=7).contains(&r));
}

#[test]
fn callerid_channel_hash_timeout_written_and_read() {
    let mut c = call();
    assert_eq!(x(&c, "${CALLERID(all)}"), "\"Bob\" <62>");
    assert!(write(&mut c, "CALLERID", "all", "\"Alice\" <61>"));
    assert_eq!(
        (c.callerid_name.as_str(), c.callerid_num.as_str()),
        ("Alice", "61")
    );
    assert_eq!(x(&c, "${CALLERID(dnid)}${CALLERID(ani)}"), "10061");
    assert_eq!(
        x(&c, "${CHANNEL(language)}${CHANNEL(channeltype)}"),
        "enSIP"
    );
    assert!(write(&mut c, "CHANNEL", "language", "fr"));
    assert!(!write(&mut c, "CHANNEL", "channeltype", "IAX2"));
    assert_eq!(x(&c, "${CHANNEL(language)}"), "fr");
    assert!(write(&mut c, "HASH", "h,b", "2") && write(&mut c, "HASH", "h,a", "1"));
    assert_eq!(x(&c, "${HASH(h,a)}${HASH(h,b)}|${HASHKEYS(h)}"), "12|a,b");
    assert_eq!(x(&c, "${TIMEOUT(digit)}/${TIMEOUT(response)}"), "5/10");
    assert!(write(&mut c, "TIMEOUT", "digit", "3"));
    assert_eq!(x(&c, "${TIMEOUT(digit)}"), "3");
}

#[test]
fn globals_are_shared_between_calls_and_shadowed_by_channel_variables() {
    let mut a = call();
    let b = Call::new(a.plan().clone(), &CallStart::default());
    assert_eq!(x(&a, "${G}${GLOBAL(G)}"), "11");
    assert!(write(&mut a, "GLOBAL", "G", "2"));
    assert_eq!(x(&b, "${G}"), "2", "another call sees it");
    a.vars.insert("G".into(), "chan".into());
    assert_eq!(x(&a, "${G}|${GLOBAL(G)}"), "chan|2");
}

#[test]
fn unknown_functions_are_empty() {
    let c = call();
    assert_eq!(x(&c, "[${NOSUCHFUNC(1)}]"), "[]");
    assert!(known("cut") && !known("NOSUCHFUNC"));
    // Every function `read` or `write` handles is known at load.
    for f in [
        "DIALPLAN_EXISTS",
        "VALID_EXTEN",
        "FIELDQTY",
        "FIELDNUM",
        "STRREPLACE",
        "LISTFILTER",
        "ARRAY",
        "DB_DELETE",
    ] {
        assert!(known(f), "{f}");
    }
}

#[test]
fn fields_lists_and_the_dialplan_itself() {
    let mut c = call();
    c.vars.insert("L".into(), "a,b,c,b".into());
    assert_eq!(x(&c, "${FIELDQTY(L,\\,)}|${FIELDQTY(NUMS,-)}"), "4|4");
    assert_eq!(x(&c, "${FIELDNUM(L,\\,,c)}|${FIELDNUM(L,\\,,z)}"), "3|0");
    assert_eq!(x(&c, "${LISTFILTER(L,\\,,b)}"), "a,c");
    assert_eq!(
        x(&c, "${STRREPLACE(L,b,X)}|${STRREPLACE(L,b,X,1)}"),
        "a,X,c,X|a,X,c,b"
    );
    assert_eq!(x(&c, "${DIALPLAN_EXISTS(d)}${DIALPLAN_EXISTS(nope)}"), "10");
    assert_eq!(
        x(&c, "${DIALPLAN_EXISTS(d,100)}${DIALPLAN_EXISTS(d,100,2)}"),
        "10"
    );
    assert_eq!(x(&c, "${VALID_EXTEN(,100)}${VALID_EXTEN(d,101)}"), "10");
    assert!(write(&mut c, "ARRAY", "A1,A2,A3", "x,y"));
    assert_eq!(x(&c, "${A1}${A2}[${A3}]"), "xy[]");
}
