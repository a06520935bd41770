//! The event model: what a valid transaction or customer event holds once parsed, and why an
//! event was rejected.

/// A valid transaction event.
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    /// The transaction's id.
    pub transaction_id: String,
    /// The customer (positive).
    pub customer_id: i64,
    /// The amount in cents (not negative).
    pub amount_cents: i64,
    /// ISO 4217 code, three upper-case letters.
    pub currency: String,
    /// One of [`super::STATUSES`].
    pub status: String,
    /// The product category, when given.
    pub category: Option<String>,
    /// When it happened, microseconds since the epoch (UTC).
    pub event_time_micros: i64,
}

/// A valid customer event (`login`, `profile_update`, or any other type, which is counted).
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerEvent {
    /// The event's id.
    pub event_id: String,
    /// The customer (positive).
    pub customer_id: i64,
    /// Lower-case event name.
    pub event_type: String,
    /// When it happened, microseconds since the epoch (UTC).
    pub event_time_micros: i64,
    /// The session, when given.
    pub session_id: Option<String>,
    /// The event's other fields as a JSON object (a profile update's `changes`), if any.
    pub details: Option<String>,
}

/// What kind of customer event it is, for the per-customer metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerEventKind {
    /// `login`.
    Login,
    /// `profile_update`.
    ProfileUpdate,
    /// Anything else.
    Other,
}

impl CustomerEvent {
    /// Its kind.
    pub fn kind(&self) -> CustomerEventKind {
        match self.event_type.as_str() {
            "login" => CustomerEventKind::Login,
            "profile_update" => CustomerEventKind::ProfileUpdate,
            _ => CustomerEventKind::Other,
        }
    }
}

/// Why an event was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidKind {
    /// Not JSON, or not a JSON object.
    MalformedJson,
    /// A field is missing, of the wrong type, or out of range.
    InvalidField,
}

impl InvalidKind {
    /// The name used in dead-letter headers.
    pub fn as_str(self) -> &'static str {
        match self {
            InvalidKind::MalformedJson => "malformed_json",
            InvalidKind::InvalidField => "invalid_field",
        }
    }
}

/// A rejected event's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Malformed JSON or an invalid field.
    pub kind: InvalidKind,
    /// The field at fault, for invalid fields.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl Invalid {
    pub(crate) fn field(field: &str, message: String) -> Invalid {
        Invalid {
            kind: InvalidKind::InvalidField,
            field: Some(field.to_string()),
            message,
        }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}
