//! The shared vocabulary of every Emporium context. Nothing here does I/O.

pub mod clock;
pub mod events;
pub mod id;
pub mod money;
pub mod page;
pub mod postal;
pub mod validation;

pub use clock::{Clock, SystemClock};
pub use events::Event;
pub use id::new_id;
pub use money::{Currency, Money};
pub use page::{Page, PageRequest, PageSpec};
pub use validation::FieldErrors;
