//! Dialplan speed: steps per second through a realistic program (pattern
//! match, Set, GotoIf, Dial) and the cost of matching one number against a
//! context of 10,000 extensions.

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

criterion_group!(benches, bench);
criterion_main!(benches);
