//! dbt unit tests (dbt 1.8+ `unit_tests:` in property files): a model run on mocked inputs
//! (`given`), its rows compared with the `expect`ed rows as multisets, with a table diff on
//! failure. Inputs are written as YAML mappings, CSV (inline or a fixture file) or SQL; a
//! column an input leaves out is NULL of the type the lake (or the upstream model's compiled
//! SQL) gives it.

pub mod diff;
pub mod fixture;
pub mod run;
pub mod spec;

pub use run::{UnitCase, check, run};
pub use spec::{Format, Input, UnitTest, UnitTestSpec};

#[cfg(test)]
mod tests;
