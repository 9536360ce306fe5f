//! The AstDB shared by router replicas: two `asterism-router` processes on
//! one real Redis; a call on one writes `DB()`, a call on the other reads
//! it, `asterism database` shows and changes it as Asterisk's CLI does.

mod common;

use asterism_proto::router::router_client::RouterClient;
use asterism_proto::router::{call_event, step, CallEvent, CallStart, StepResult, StepStatus};
use asterism_testkit::{bin_path, free_port, RedisServer, Service};
use common::TempDir;
use std::process::Command;
use tokio_stream::wrappers::ReceiverStream;

const DIALPLAN: &str = "[d]
exten => set,1,Set(DB(dnd/${CALLERID(num)})=YES)
 same => n,SayDigits(1)
exten => get,1,SayDigits(${DB(dnd/62)}|${DB_EXISTS(dnd/63)})
exten => loop,1,Set(i=0)
 same => n,While($[${i} < 3])
 same => n,Set(DB(count/x)=$[0${DB(count/x)} + 1])
 same => n,Set(i=$[${i} + 1])
 same => n,EndWhile
 same => n,SayDigits(${DB(count/x)})
exten => sys,1,System(echo ${CALLERID(num)} > ${MARK})
 same => n,SayDigits(${SYSTEMSTATUS})
exten => time,1,GotoIfTime(*,*,*,*?open)
 same => n,SayDigits(closed)
 same => n(open),GotoIfTime(00:00-23:59,funday,*,*?closed)
 same => n,SayDigits(open)
";

/// The digits of each SayDigits the call sends, for caller `caller`.
async fn said(addr: &str, exten: &str, caller: &str) -> Vec<String> {
    let mut c = RouterClient::connect(addr.to_owned()).await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(CallEvent {
        event: Some(call_event::Event::Start(CallStart {
            context: "d".into(),
            extension: exten.into(),
            callerid_num: caller.into(),
            ..Default::default()
        })),
    })
    .await
    .unwrap();
    let mut s = c
        .execute(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let mut out = Vec::new();
    while let Some(st) = s.message().await.unwrap() {
        match st.app.unwrap() {
            step::App::Finished(_) => return out,
            step::App::SayDigits(d) => out.push(d.digits),
            _ => {}
        }
        tx.send(CallEvent {
            event: Some(call_event::Event::Result(StepResult {
                step_id: st.step_id,
                status: StepStatus::Ok as i32,
                ..Default::default()
            })),
        })
        .await
        .unwrap();
    }
    panic!("no Finished");
}

fn router(dir: &TempDir, redis: &RedisServer, system: &str) -> (Service, String) {
    let port = free_port();
    let s = Service::start(
        "asterism-router",
        &[
            ("ASTERISM_ROUTER_SYSTEM", system.into()),
            ("ASTERISM_CONFIG_DIR", dir.0.display().to_string()),
            ("ASTERISM_ROUTER_LISTEN", format!("127.0.0.1:{port}")),
            ("ASTERISM_REDIS_URL", redis.url()),
            (
                "ASTERISM_ADMIN_LISTEN",
                format!("127.0.0.1:{}", free_port()),
            ),
            ("ASTERISM_DIALPLAN_POLL_SECS", "0".into()),
        ],
    );
    common::wait_tcp(port);
    (s, format!("http://127.0.0.1:{port}"))
}

fn cli(router: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(bin_path("asterism"))
        .args(["database", "--router", router])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Two router processes on one Redis, the first with System() enabled.
struct Routers {
    _dir: TempDir,
    redis: RedisServer,
    mark: std::path::PathBuf,
    _services: (Service, Service),
    a: String,
    b: String,
}

impl Routers {
    fn start(name: &str) -> Routers {
        let dir = TempDir::new(name);
        let mark = dir.0.join("system-ran");
        let dialplan = format!("[globals]\nMARK={}\n{DIALPLAN}", mark.display());
        std::fs::write(dir.0.join("extensions.conf"), dialplan).unwrap();
        let redis = RedisServer::start();
        let (sa, a) = router(&dir, &redis, "yes");
        let (sb, b) = router(&dir, &redis, "no");
        Routers {
            _dir: dir,
            redis,
            mark,
            _services: (sa, sb),
            a,
            b,
        }
    }
}

#[tokio::test]
async fn two_routers_share_the_astdb_in_redis() {
    let t = Routers::start("astdb");
    let (redis, a, b) = (&t.redis, t.a.clone(), t.b.clone());

    assert_eq!(said(&a, "set", "62").await, ["1"]);
    assert_eq!(
        said(&b, "get", "61").await,
        ["YES|0"],
        "replica B reads A's write"
    );

    // Stored as a plain Redis key.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let v: Option<String> = redis::cmd("GET")
        .arg("asterism:astdb/dnd/62")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(v.as_deref(), Some("YES"));

    // A loop reading and writing the same key, alternately on each replica.
    assert_eq!(said(&a, "loop", "").await, ["3"]);
    assert_eq!(said(&b, "loop", "").await, ["6"]);

    // Asterisk's CLI, on either replica.
    let (code, out) = cli(&b, &["put", "cidname", "5551234", "Alice Smith"]);
    assert_eq!(
        (code, out.as_str()),
        (Some(0), "Updated database successfully\n")
    );
    let (_, out) = cli(&a, &["get", "cidname", "5551234"]);
    assert_eq!(out, "Value: Alice Smith\n");
    let (_, out) = cli(&a, &["show"]);
    let want = format!(
        "{:<50}: {:<25}\n{:<50}: {:<25}\n{:<50}: {:<25}\n3 results found.\n",
        "/cidname/5551234", "Alice Smith", "/count/x", "6", "/dnd/62", "YES"
    );
    assert_eq!(out, want);
    let (_, out) = cli(&a, &["show", "dnd"]);
    assert!(out.ends_with("1 results found.\n"), "{out}");
    let (code, out) = cli(&b, &["deltree", "dnd"]);
    assert_eq!(
        (code, out.as_str()),
        (Some(0), "1 database entries removed.\n")
    );
    let (code, out) = cli(&a, &["del", "dnd", "62"]);
    assert_eq!(
        (code, out.as_str()),
        (Some(1), "Database entry does not exist.\n")
    );
    assert_eq!(said(&a, "get", "").await, ["|0"]);
    let (code, _) = cli(&a, &["frobnicate"]);
    assert_eq!(code, Some(64));
}

#[tokio::test]
async fn system_where_enabled_and_time_conditions_through_router_processes() {
    let t = Routers::start("system");
    let (mark, a, b) = (t.mark.clone(), t.a.clone(), t.b.clone());
    assert_eq!(
        said(&b, "sys", "62").await,
        Vec::<String>::new(),
        "refused: System hangs up"
    );
    assert!(!mark.exists());
    assert_eq!(said(&a, "sys", "62").await, ["SUCCESS"]);
    assert_eq!(std::fs::read_to_string(&mark).unwrap(), "62\n");
    assert_eq!(said(&a, "time", "").await, ["open"]);
}
