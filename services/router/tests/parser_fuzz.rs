//! No input makes the dialplan parser or the engine panic or hang: random
//! bytes, and random lines built from dialplan fragments.

use asterism_proto::router::{CallStart, StepResult, StepStatus};
use asterism_router::dialplan::parse_str;
use asterism_router::engine::{Call, Next};
use proptest::prelude::*;
use std::path::Path;
use std::sync::Arc;

const FRAGMENTS: &[&str] = &[
    "[",
    "]",
    "default",
    "exten",
    "same",
    "=>",
    "=",
    ",",
    "n",
    "1",
    "(",
    ")",
    "_X.",
    "_[1-",
    "!",
    "Goto",
    "GotoIf",
    "Set",
    "Gosub",
    "Return",
    "Dial",
    "${",
    "}",
    "$[",
    "]",
    ":",
    "?",
    "-1",
    ";",
    "\\;",
    "#include",
    "include",
    "h",
    "i",
    "s",
    "\n",
    " ",
    "EXTEN",
    "LEN(",
    "IF(",
    "DB(",
    "While(",
    "EndWhile",
    "Macro(",
    "ExecIf(",
    "${DB(a/b)}",
    "&",
    "|",
];

fn run_all(text: &str) {
    if let Ok((plan, _)) = parse_str(Path::new("fuzz.conf"), text) {
        let plan = Arc::new(plan);
        let contexts: Vec<String> = plan.contexts.keys().cloned().collect();
        for ctx in contexts {
            for number in ["1", "61", "s", "h", "i", "999"] {
                let start = CallStart {
                    context: ctx.clone(),
                    extension: number.into(),
                    ..Default::default()
                };
                let mut call = Call::new(plan.clone(), &start);
                for _ in 0..50 {
                    match call.advance() {
                        Next::Step(s) => call.result(&StepResult {
                            step_id: s.step_id,
                            status: StepStatus::Ok as i32,
                            ..Default::default()
                        }),
                        Next::Finished(_) => break,
                        Next::Db(asterism_router::engine::db::DbRequest::Get(keys)) => {
                            call.db_values(keys.into_iter().map(|k| (k, None)))
                        }
                        Next::Db(_) => {}
                        Next::System(_) => call.system_done(None, false),
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        run_all(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn random_dialplan_fragments_never_panic(parts in proptest::collection::vec(0..FRAGMENTS.len(), 0..120)) {
        let text: String = parts.iter().map(|&i| FRAGMENTS[i]).collect();
        run_all(&text);
        run_all(&format!("[default]\nexten => 1,1,{text}\nexten => 1,n,Goto({text})\n"));
    }
}
