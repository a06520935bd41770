//! Schema evolution: a dataset's columns against its registered schema (the columns and types
//! seen when it was first checked), with a policy — `fail` on any change, `allow_additive`
//! (new columns are fine, removed or retyped ones fail), `allow_all` (report only).

use serde::Deserialize;

/// How a schema change is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemaPolicy {
    /// Any change fails.
    Fail,
    /// Added columns pass; removed or retyped ones fail.
    AllowAdditive,
    /// Every change is reported and accepted.
    AllowAll,
}

/// A column: name and type (as text).
pub type Column = (String, String);

/// The differences between a registered and a current schema.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaChange {
    /// Columns that are new.
    pub added: Vec<Column>,
    /// Columns that are gone.
    pub removed: Vec<Column>,
    /// Columns whose type changed: name, old type, new type.
    pub retyped: Vec<(String, String, String)>,
}

impl SchemaChange {
    /// Compares `current` with `registered`.
    pub fn between(registered: &[Column], current: &[Column]) -> SchemaChange {
        let find = |list: &[Column], name: &str| {
            list.iter().find(|(n, _)| n == name).map(|(_, t)| t.clone())
        };
        SchemaChange {
            added: current
                .iter()
                .filter(|(n, _)| find(registered, n).is_none())
                .cloned()
                .collect(),
            removed: registered
                .iter()
                .filter(|(n, _)| find(current, n).is_none())
                .cloned()
                .collect(),
            retyped: current
                .iter()
                .filter_map(|(n, t)| {
                    find(registered, n)
                        .filter(|old| old != t)
                        .map(|old| (n.clone(), old, t.clone()))
                })
                .collect(),
        }
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.retyped.is_empty()
    }

    /// Whether `policy` rejects this change.
    pub fn rejected_by(&self, policy: SchemaPolicy) -> bool {
        match policy {
            SchemaPolicy::Fail => !self.is_empty(),
            SchemaPolicy::AllowAdditive => !self.removed.is_empty() || !self.retyped.is_empty(),
            SchemaPolicy::AllowAll => false,
        }
    }

    /// `+name (type), -name (type), ~name (old -> new)`.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        parts.extend(self.added.iter().map(|(n, t)| format!("+{n} ({t})")));
        parts.extend(self.removed.iter().map(|(n, t)| format!("-{n} ({t})")));
        parts.extend(
            self.retyped
                .iter()
                .map(|(n, old, new)| format!("~{n} ({old} -> {new})")),
        );
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(list: &[(&str, &str)]) -> Vec<Column> {
        list.iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect()
    }

    #[test]
    fn changes_and_policies() {
        let before = cols(&[("id", "Int64"), ("amount", "Float64"), ("note", "Utf8")]);
        let added = cols(&[
            ("id", "Int64"),
            ("amount", "Float64"),
            ("note", "Utf8"),
            ("tag", "Utf8"),
        ]);
        let change = SchemaChange::between(&before, &added);
        assert_eq!(change.describe(), "+tag (Utf8)");
        assert!(change.rejected_by(SchemaPolicy::Fail));
        assert!(!change.rejected_by(SchemaPolicy::AllowAdditive));
        let retyped = cols(&[("id", "Utf8"), ("amount", "Float64")]);
        let change = SchemaChange::between(&before, &retyped);
        assert_eq!(change.describe(), "-note (Utf8), ~id (Int64 -> Utf8)");
        assert!(change.rejected_by(SchemaPolicy::AllowAdditive));
        assert!(!change.rejected_by(SchemaPolicy::AllowAll));
        assert!(SchemaChange::between(&before, &before).is_empty());
    }
}
