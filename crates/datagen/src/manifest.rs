//! `manifest.json`: what was generated, and the exact count of every injected defect. Tests and
//! the demo use it as ground truth for what ingest and the quality layer must find.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Defects that make a CSV line unloadable (it must end up in quarantine).
pub const STRUCTURAL_DEFECTS: &[&str] = &["wrong_field_count", "unparseable_number"];

/// The whole manifest.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// The seed the data was generated from.
    pub seed: u64,
    /// `csv` or `parquet`.
    pub format: String,
    /// Probability that a generated row carries a defect.
    pub defect_rate: f64,
    /// First day of the generated period (`YYYY-MM-DD`).
    pub start_date: String,
    /// Last day of the generated period (`YYYY-MM-DD`).
    pub end_date: String,
    /// Per table: file and counts.
    pub tables: BTreeMap<String, TableManifest>,
}

/// What was generated for one table.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TableManifest {
    /// File name inside the output directory.
    pub file: String,
    /// Data lines or rows written (header excluded), including defective ones.
    pub data_rows: u64,
    /// Rows a correct loader accepts: `data_rows` minus structural defects.
    pub loadable_rows: u64,
    /// Structurally broken lines, which a loader must quarantine.
    pub structural_defects: u64,
    /// Count of each injected defect, by defect name.
    pub defects: BTreeMap<String, u64>,
}

impl TableManifest {
    pub(crate) fn new(file: String) -> TableManifest {
        TableManifest {
            file,
            ..TableManifest::default()
        }
    }

    pub(crate) fn count(&mut self, defect: &str) {
        *self.defects.entry(defect.to_string()).or_default() += 1;
        if STRUCTURAL_DEFECTS.contains(&defect) {
            self.structural_defects += 1;
        }
    }

    pub(crate) fn finish(&mut self) {
        self.loadable_rows = self.data_rows - self.structural_defects;
    }

    /// The count of one defect (0 when none was injected).
    pub fn defect(&self, name: &str) -> u64 {
        self.defects.get(name).copied().unwrap_or(0)
    }
}
