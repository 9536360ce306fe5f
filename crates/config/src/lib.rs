//! Configuration shared by every Asterism binary: the Asterisk `.conf` file
//! format (for `sip.conf` and `extensions.conf`) with `file:line` errors, and
//! typed `ASTERISM_*` environment settings read through a [`Strings`] source
//! so tests never touch the process environment.

pub mod callerid;
pub mod cli;
pub mod conf;
pub mod dial_options;
pub mod env;
pub mod register_line;
pub mod runtime;
pub mod shutdown;

pub use conf::{ConfError, ConfFile, Entry, Section};
pub use env::{EnvError, ProcessEnv, Strings};

/// Exit code for bad configuration (EX_CONFIG-style, as linkerd uses 64).
pub const EXIT_CONFIG: i32 = 64;
