//! Events as they arrive: JSON transaction and customer events, parsed and validated one message
//! at a time. A message that is not JSON, or whose fields are missing, mistyped or out of range,
//! becomes an [`Invalid`] with the field and the reason, for the dead-letter topic.

mod model;
mod parse;
#[cfg(test)]
mod tests;

pub use model::{CustomerEvent, CustomerEventKind, Invalid, InvalidKind, Transaction};
pub use parse::{STATUSES, parse_customer_event, parse_transaction};
