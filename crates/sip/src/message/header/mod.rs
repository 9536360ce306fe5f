//! Typed views of the headers the edge reasons about. Each parses from the
//! header's text (already unfolded and split into list elements by
//! [`crate::message`]) and prints back in canonical form.

pub mod cseq;
pub mod name;
pub mod name_addr;
pub mod params;
pub mod via;

pub use cseq::CSeq;
pub use name_addr::NameAddr;
pub use params::Params;
pub use via::Via;
