use super::*;

fn parse(text: &str) -> Result<ConfFile, ConfError> {
    ConfFile::parse(Path::new("test.conf"), text)
}

#[test]
fn sections_entries_and_comments() {
    let c = parse("[general]\nstatic=yes ; comment\n\n[default]\n; default contexte\nexten => 61,1,Dial(SIP/nlys)\nx = a\\;b\n").unwrap();
    assert_eq!(c.sections.len(), 2);
    let d = c.section("default").unwrap();
    assert_eq!(d.entries[0].key, "exten");
    assert!(d.entries[0].arrow);
    assert_eq!(d.entries[0].value, "61,1,Dial(SIP/nlys)");
    assert_eq!(d.entries[0].line, 6);
    assert_eq!(d.entries[0].value_col, 10);
    assert_eq!(d.entries[1].value, "a;b");
    assert_eq!(
        c.section("general").unwrap().get("static").unwrap().value,
        "yes"
    );
}

#[test]
fn block_comments() {
    let c = parse("[a]\n;-- x=1\ny=2 --;\nz=3\n").unwrap();
    let a = c.section("a").unwrap();
    assert_eq!(a.entries.len(), 1);
    assert_eq!(a.entries[0].key, "z");
}

#[test]
fn separator_lines_are_comments_not_block_openers() {
    let c = parse("[a]\n;-----------\nx=1\n;--- three dashes too\ny=2\n").unwrap();
    let keys: Vec<&str> = c.sections[0]
        .entries
        .iter()
        .map(|e| e.key.as_str())
        .collect();
    assert_eq!(keys, vec!["x", "y"]);
}

#[test]
fn block_comments_nest_and_end_mid_line() {
    let c =
        parse("[a]\n;-- outer ;-- inner --; still out --; x=1\ny=2 ;-- z=3 --; ; w=4\n").unwrap();
    let a = &c.sections[0];
    assert_eq!(a.entries.len(), 2);
    assert_eq!(
        (a.entries[0].key.as_str(), a.entries[0].value.as_str()),
        ("x", "1")
    );
    assert_eq!(
        (a.entries[1].key.as_str(), a.entries[1].value.as_str()),
        ("y", "2")
    );
}

#[test]
fn latin1_files_load() {
    let dir = std::env::temp_dir().join(format!("asterism-conf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("minivm.conf");
    std::fs::write(&f, b"; Fran\xe7ois' notes\n[general]\nformat=wav\n").unwrap();
    let c = ConfFile::load(&f).unwrap();
    assert_eq!(
        c.section("general").unwrap().get("format").unwrap().value,
        "wav"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tryinclude_globs_exec_and_unknown_directives() {
    let dir = std::env::temp_dir().join(format!("asterism-inc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("b_peers.conf"), "[bob]\ntype=friend\n").unwrap();
    std::fs::write(dir.join("a_peers.conf"), "[alice]\ntype=friend\n").unwrap();
    let main = dir.join("sip.conf");
    std::fs::write(
        &main,
        "[general]\n#tryinclude missing.conf\n#include \"*_peers.conf\"\n#exec /bin/date\n#frobnicate x\n",
    )
    .unwrap();
    let c = ConfFile::load(&main).unwrap();
    let names: Vec<&str> = c.sections.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["general", "alice", "bob"]);
    std::fs::write(&main, "[general]\n#include missing.conf\n").unwrap();
    let e = ConfFile::load(&main).unwrap_err();
    assert_eq!(e.line, 2, "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn templates_build_on_templates_as_asterisk_copies_them() {
    let c = parse(concat!(
        "[basic-options](!)\ndtmfmode=rfc2833\ncontext=from-office\n",
        "[natted-phone](!,basic-options)\nnat=force_rport,comedia\n",
        "[alice](natted-phone)\nsecret=x\ncontext=alice-only\n",
        "[Basic-Options](+)\nlanguage=fr\n",
    ))
    .unwrap();
    let a = c.section("alice").unwrap();
    let keys: Vec<&str> = a.entries.iter().map(|e| e.key.as_str()).collect();
    // The bases' lines first, in order, then its own; the later `(+)` on the
    // template is not inherited (Asterisk copied it at alice's header).
    assert_eq!(keys, ["dtmfmode", "context", "nat", "secret", "context"]);
    assert_eq!(a.get("context").unwrap().value, "alice-only");
    assert_eq!(
        a.get("dtmfmode").unwrap().line,
        2,
        "inherited lines keep their place"
    );
    assert!(c.section("natted-phone").unwrap().is_template);
    assert_eq!(c.section("basic-options").unwrap().entries.len(), 3);
    assert_eq!(
        c.sections.len(),
        3,
        "(+) adds to the section, not a new one"
    );
}

#[test]
fn plus_headers_append_and_plus_equals_extends_a_value() {
    let c = parse("[a]\nx=1\nallow=ulaw\n[b]\ny=2\n[a](+)\nz=3\nallow+=,alaw\n").unwrap();
    let a = c.section("a").unwrap();
    let kv: Vec<(&str, &str)> = a
        .entries
        .iter()
        .map(|e| (e.key.as_str(), e.value.as_str()))
        .collect();
    assert_eq!(kv, [("x", "1"), ("allow", "ulaw,alaw"), ("z", "3")]);
    let e = parse("[a]\n[c](+)\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "test.conf:2: cannot add to section 'c': it does not exist"
    );
    let e = parse("[a](nope)\n").unwrap_err();
    assert!(e.to_string().contains("cannot inherit from 'nope'"), "{e}");
}

#[test]
fn errors_and_warnings_name_file_and_line() {
    // Asterisk logs a line without '=' and reads on.
    let c = parse("[a]\nx=1\nbroken line\ny=2\n#frob\n").unwrap();
    assert_eq!(c.sections[0].entries.len(), 2);
    let w: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        w,
        [
            "test.conf:3: no '=' (equal sign) in 'broken line': line ignored",
            "test.conf:5: unknown directive '#frob': skipped"
        ]
    );
    // What Asterisk refuses to load.
    let e = parse("x=1\n").unwrap_err();
    assert_eq!(e.line, 1);
    let e = parse("[a\n").unwrap_err();
    assert!(e.to_string().starts_with("test.conf:1:"));
    let e = parse("[a](!\n").unwrap_err();
    assert!(e.to_string().contains("no closing ')'"), "{e}");
    // Text after the header that is not options is ignored, as by Asterisk.
    assert_eq!(parse("[a] junk\nx=1\n").unwrap().sections[0].name, "a");
}

#[test]
fn includes_are_found_from_the_configuration_directory() {
    // Asterisk reads a relative #include from its configuration directory,
    // whichever file holds it (dialplan/a.conf including "dialplan/b.conf").
    let dir = std::env::temp_dir().join(format!("asterism-base-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("dialplan")).unwrap();
    std::fs::write(dir.join("dialplan/a.conf"), "#include dialplan/b.conf\n").unwrap();
    std::fs::write(dir.join("dialplan/b.conf"), "[b]\nx=1\n").unwrap();
    std::fs::write(dir.join("main.conf"), "#include dialplan/a.conf\n").unwrap();
    let c = ConfFile::load(&dir.join("main.conf")).unwrap();
    assert_eq!(c.sections[0].name, "b");
    std::fs::remove_dir_all(&dir).unwrap();
}
