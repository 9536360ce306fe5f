//! Dialplan speed: steps per second through a realistic program (pattern
//! match, Set, GotoIf, Dial), the cost of matching one number against a
//! context of 10,000 extensions, and the time to load a FreePBX-sized
//! extensions.conf (5,000 lines).

use asterism_proto::router::{CallStart, StepResult, StepStatus};
use asterism_router::dialplan::parse_str;
use asterism_router::engine::{Call, Next};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

const REALISTIC: &str = "[globals]\nTRUNK=SIP/alice\n[default]\nexten => _6X,1,Set(TARGET=${EXTEN:1})\n same => n,Set(COUNT=$[${LEN(${EXTEN})} + 1])\n same => n,GotoIf($[${COUNT} > 2]?dial:other)\n same => n(dial),Dial(SIP/user${TARGET},20)\n same => n,GotoIf($[\"${DIALSTATUS}\" = \"BUSY\"]?busy)\n same => n,Hangup()\n same => n(busy),Busy()\n same => n(other),Congestion()\nexten => _7XX,1,NoOp\nexten => _8.,1,NoOp\n";

fn start(ctx: &str, exten: &str) -> CallStart {
    CallStart {
        call_id: "b".into(),
        context: ctx.into(),
        extension: exten.into(),
        ..Default::default()
    }
}

fn bench(c: &mut Criterion) {
    let plan = Arc::new(parse_str(Path::new("bench.conf"), REALISTIC).unwrap().0);
    c.bench_function("realistic call (7 dialplan steps, 2 to the edge)", |b| {
        b.iter(|| {
            let mut call = Call::new(plan.clone(), &start("default", black_box("61")));
            let mut steps = 0;
            while let Next::Step(s) = call.advance() {
                steps += 1;
                call.result(&StepResult {
                    step_id: s.step_id,
                    status: StepStatus::Ok as i32,
                    dial_status: "BUSY".into(),
                    ..Default::default()
                });
            }
            black_box(steps)
        })
    });

    let mut big = String::from("[big]\n");
    for i in 0..10_000 {
        big.push_str(&format!("exten => {},1,NoOp\n", 100_000 + i));
    }
    for i in 0..50 {
        big.push_str(&format!("exten => _{i:02}XXXX.,1,NoOp\n"));
    }
    let big = parse_str(Path::new("big.conf"), &big).unwrap().0;
    c.bench_function("match one number in a 10,000-extension context", |b| {
        b.iter(|| black_box(big.find("big", black_box("109999"))).is_some())
    });
    c.bench_function(
        "match falling through to a pattern after 10,000 literals",
        |b| b.iter(|| black_box(big.find("big", black_box("4912345"))).is_some()),
    );
}

/// A FreePBX-shaped dialplan of about 5,000 lines: globals, contexts that
/// include others, phones with hints and `same => n` programs with labels,
/// Gosub/GotoIf/Set lines, outbound patterns, comments and separators.
fn freepbx_sized() -> String {
    let mut t = String::from(";--------------------------------------------\n[globals]\n");
    for i in 0..200 {
        t.push_str(&format!("VAR{i} = value{i} ; a comment\n"));
    }
    for c in 0..40 {
        t.push_str(&format!("\n;------------------\n[from-internal-{c}]\ninclude => shared-{c}\ninclude => out-{c},08:00-18:00,mon-fri,*,*\n"));
        for e in 0..25 {
            let ext = 1000 + c * 100 + e;
            t.push_str(&format!(
                "exten => {ext},hint,SIP/{ext}&Custom:DND{ext}\n\
                 exten => {ext},1,Set(__PICKUPMARK={ext})\n\
                 \x20same => n,Gosub(sub-user-callerid,s,1(${{EXTEN}}))\n\
                 \x20same => n(dial),GotoIf($[\"${{DB(DND/{ext})}}\" = \"YES\"]?dnd)\n\
                 \x20same => n,Dial(SIP/{ext},20,tTr)\n\
                 \x20same => n(dnd),Playback(do-not-disturb)\n\
                 \x20same => n,Hangup()\n"
            ));
        }
        t.push_str(&format!("[shared-{c}]\nexten => _*{c}XX,1,NoOp(feature)\n same => n,Goto(from-internal-{c},${{EXTEN:2}},dial)\n"));
        t.push_str(&format!("[out-{c}]\nexten => _9NXXXXXX,1,Set(OUTNUM=${{EXTEN:1}})\n same => n,Dial(SIP/${{OUTNUM}}@trunk,60)\n same => n,Congestion()\n"));
    }
    t
}

fn load(c: &mut Criterion) {
    let text = freepbx_sized();
    let dir = std::env::temp_dir().join(format!("asterism-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("extensions.conf");
    std::fs::write(&file, &text).unwrap();
    let lines = text.lines().count();
    c.bench_function(
        &format!("load a FreePBX-sized extensions.conf ({lines} lines)"),
        |b| b.iter(|| black_box(load_file(&file)).is_ok()),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn load_file(
    file: &Path,
) -> Result<
    (
        asterism_router::dialplan::Dialplan,
        asterism_router::dialplan::Diagnostics,
    ),
    asterism_router::dialplan::Diagnostics,
> {
    asterism_router::dialplan::load(file)
}

criterion_group!(benches, bench, load);
criterion_main!(benches);
