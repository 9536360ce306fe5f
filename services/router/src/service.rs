//! The router's state: the current dialplan, replaced whole when a reload
//! (file change, SIGHUP or the Reload RPC) yields a valid one. A broken new
//! file is reported and the old dialplan stays; calls in progress keep the
//! dialplan they started with.

use crate::astdb::{AstDb, Memory};
use crate::dialplan::{self, Diagnostics, Dialplan};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

pub struct Router {
    plan: RwLock<Arc<Dialplan>>,
    /// The AstDB calls use (in memory unless Redis is configured).
    db: Arc<dyn AstDb>,
    /// `System()` may run commands (`ASTERISM_ROUTER_SYSTEM=yes`).
    system: bool,
    path: Option<PathBuf>,
    loaded_mtime: RwLock<Option<SystemTime>>,
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Router {
    /// Load `path` (or the built-in example when None). Errors refuse to start.
    pub fn load(path: Option<&Path>) -> Result<(Router, Diagnostics), Diagnostics> {
        let (plan, mut diags) = match path {
            Some(p) => dialplan::load(p)?,
            None => dialplan::parse_str(
                Path::new("<built-in>/extensions.conf"),
                crate::config::BUILTIN_EXTENSIONS_CONF,
            )?,
        };
        if let Some(dir) = path.and_then(Path::parent) {
            diags.0.extend(crate::features_conf::check(dir));
        }
        let router = Router {
            db: Arc::new(Memory::default()),
            system: false,
            plan: RwLock::new(Arc::new(plan)),
            path: path.map(Path::to_path_buf),
            loaded_mtime: RwLock::new(path.and_then(mtime)),
        };
        Ok((router, diags))
    }

    pub fn from_plan(plan: Dialplan) -> Router {
        Router {
            db: Arc::new(Memory::default()),
            system: false,
            plan: RwLock::new(Arc::new(plan)),
            path: None,
            loaded_mtime: RwLock::new(None),
        }
    }

    /// Keep the AstDB here (Redis shared by every replica).
    pub fn with_db(mut self, db: Arc<dyn AstDb>) -> Router {
        self.db = db;
        self
    }

    /// Let the dialplan's `System()` run commands.
    pub fn with_system(mut self, yes: bool) -> Router {
        self.system = yes;
        self
    }

    pub fn allow_system(&self) -> bool {
        self.system
    }

    pub fn db(&self) -> Arc<dyn AstDb> {
        self.db.clone()
    }

    /// The dialplan new calls run.
    pub fn current(&self) -> Arc<Dialplan> {
        match self.plan.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-read the file; on success the new dialplan serves new calls.
    pub fn reload(&self) -> Result<Diagnostics, Diagnostics> {
        let Some(path) = &self.path else {
            return Ok(Diagnostics::default());
        };
        let stamp = mtime(path);
        let result = dialplan::load(path);
        if let Ok(mut m) = self.loaded_mtime.write() {
            *m = stamp;
        }
        match result {
            Ok((plan, diags)) => {
                if let Ok(mut p) = self.plan.write() {
                    // As Asterisk: globals calls set survive a reload unless
                    // clearglobalvars=yes; the file's own are set again.
                    if !plan.clear_globals {
                        let fresh = plan.live_globals.snapshot();
                        for (k, v) in p.live_globals.snapshot() {
                            if !fresh.contains_key(&k) {
                                plan.live_globals.set(&k, &v);
                            }
                        }
                    }
                    *p = Arc::new(plan);
                }
                for w in diags.warnings() {
                    tracing::warn!("{w}");
                }
                tracing::info!(file = %path.display(), "dialplan reloaded");
                Ok(diags)
            }
            Err(diags) => {
                for e in &diags.0 {
                    tracing::error!("{e}");
                }
                tracing::error!(file = %path.display(), "dialplan NOT reloaded: keeping the previous one");
                Err(diags)
            }
        }
    }

    /// Whether the file changed since it was last read.
    pub fn changed(&self) -> bool {
        let Some(path) = &self.path else { return false };
        let now = mtime(path);
        self.loaded_mtime.read().map(|m| *m != now).unwrap_or(false)
    }

    /// Reload whenever the file changes, checking every `every`.
    pub async fn watch(self: Arc<Self>, every: Duration) {
        if every.is_zero() || self.path.is_none() {
            return;
        }
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if self.changed() {
                let _ = self.reload();
            }
        }
    }

    /// Reload on every SIGHUP.
    pub async fn reload_on_sighup(self: Arc<Self>) {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                return;
            };
            while hup.recv().await.is_some() {
                let _ = self.reload();
            }
        }
    }
}
