//! Data docs: static HTML for validation results, like GE's. An index lists every stored
//! validation (newest first, with the success rate over time per suite and dataset), and each
//! validation has a page with every expectation, pass or fail, its kwargs, the observed value
//! and a sample of unexpected values. Plain files: open `index.html` from disk or serve them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One stored validation.
#[derive(Debug, Clone)]
pub struct StoredValidation {
    /// The run that produced it.
    pub run_id: String,
    /// The checkpoint.
    pub checkpoint: String,
    /// Suite name.
    pub suite: String,
    /// Table or file validated.
    pub data: String,
    /// When, as text.
    pub validated_at: String,
    /// GE's validation result.
    pub result: Value,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1d2330}\
table{border-collapse:collapse;width:100%;margin:12px 0}\
th,td{text-align:left;border-bottom:1px solid #d8dde6;padding:5px 8px;vertical-align:top}\
th{font-size:12px;color:#667085}code{font:12px ui-monospace,monospace;white-space:pre-wrap;word-break:break-all}\
table.results{table-layout:fixed}table.results td:first-child{width:60px}\
.pass{color:#1f7a34;font-weight:600}.fail{color:#b42318;font-weight:600}\
.error{color:#b54708;font-weight:600}.muted{color:#667085}\
.bar{display:inline-block;width:6px;margin-right:1px;background:#1f7a34;vertical-align:bottom}\
.bar.low{background:#b42318}";

/// A file name for one validation's page.
fn page_name(v: &StoredValidation) -> String {
    let clean = |s: &str| {
        s.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect::<String>()
    };
    format!(
        "{}-{}-{}.html",
        clean(&v.run_id),
        clean(&v.suite),
        clean(&v.data)
    )
}

fn status(result: &Value) -> (&'static str, &'static str) {
    if result["exception_info"]["raised_exception"].as_bool() == Some(true) {
        ("error", "ERROR")
    } else if result["success"].as_bool() == Some(true) {
        ("pass", "PASS")
    } else {
        ("fail", "FAIL")
    }
}

fn short(value: &Value, limit: usize) -> String {
    let text = match value {
        Value::Null => String::new(),
        other => other.to_string(),
    };
    if text.chars().count() > limit {
        let cut: String = text.chars().take(limit).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// The page of one validation.
fn validation_page(v: &StoredValidation) -> String {
    let statistics = &v.result["statistics"];
    let mut rows = String::new();
    for item in v.result["results"].as_array().into_iter().flatten() {
        let (class, label) = status(item);
        let config = &item["expectation_config"];
        let mut kwargs = config["kwargs"].clone();
        if let Some(map) = kwargs.as_object_mut() {
            map.remove("batch_id");
        }
        let result = &item["result"];
        let observed = if let Some(message) = item["exception_info"]["exception_message"].as_str() {
            escape(message)
        } else if !result["observed_value"].is_null() {
            escape(&short(&result["observed_value"], 200))
        } else if let Some(n) = result["unexpected_count"].as_u64() {
            format!(
                "{n} unexpected ({:.2}%)",
                result["unexpected_percent"].as_f64().unwrap_or(0.0)
            )
        } else {
            String::new()
        };
        let sample = escape(&short(&result["partial_unexpected_list"], 300));
        let _ = write!(
            rows,
            "<tr><td class=\"{class}\">{label}</td><td><code>{}</code></td><td><code>{}</code></td>\
             <td>{observed}</td><td><code>{sample}</code></td></tr>",
            escape(config["type"].as_str().unwrap_or_default()),
            escape(&short(&kwargs, 300)),
        );
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{suite} on {data}</title>\
         <style>{STYLE}</style></head><body><p><a href=\"../index.html\">All validations</a></p>\
         <h1>{suite} on <code>{data}</code></h1><p class=\"{class}\">{label}: {ok} of {n} expectations met \
         ({pct:.1}%)</p><p class=\"muted\">Checkpoint {checkpoint}, run {run}, {at}</p>\
         <table class=\"results\"><thead><tr><th>Status</th><th>Expectation</th><th>Arguments</th><th>Observed</th>\
         <th>Sample of unexpected values</th></tr></thead><tbody>{rows}</tbody></table></body></html>",
        suite = escape(&v.suite),
        data = escape(&v.data),
        class = if v.result["success"].as_bool() == Some(true) {
            "pass"
        } else {
            "fail"
        },
        label = if v.result["success"].as_bool() == Some(true) {
            "Passed"
        } else {
            "Failed"
        },
        ok = statistics["successful_expectations"],
        n = statistics["evaluated_expectations"],
        pct = statistics["success_percent"].as_f64().unwrap_or(0.0),
        checkpoint = escape(&v.checkpoint),
        run = escape(&v.run_id),
        at = escape(&v.validated_at),
    )
}

/// Writes `dir/index.html` and one page per validation; returns the index's path.
pub fn write(dir: &Path, validations: &[StoredValidation]) -> std::io::Result<PathBuf> {
    let pages = dir.join("validations");
    std::fs::create_dir_all(&pages)?;
    let mut sorted: Vec<&StoredValidation> = validations.iter().collect();
    sorted.sort_by(|a, b| b.validated_at.cmp(&a.validated_at));
    // Success rate over time per suite and dataset, oldest first.
    let mut trends: Vec<((String, String), Vec<f64>)> = Vec::new();
    for v in sorted.iter().rev() {
        let key = (v.suite.clone(), v.data.clone());
        let pct = v.result["statistics"]["success_percent"]
            .as_f64()
            .unwrap_or(0.0);
        match trends.iter_mut().find(|(k, _)| *k == key) {
            Some((_, values)) => values.push(pct),
            None => trends.push((key, vec![pct])),
        }
    }
    let mut trend_rows = String::new();
    for ((suite, data), values) in &trends {
        let bars: String = values
            .iter()
            .rev()
            .take(40)
            .rev()
            .map(|p| {
                format!(
                    "<span class=\"bar{}\" style=\"height:{:.0}px\" title=\"{p:.1}%\"></span>",
                    if *p < 100.0 { " low" } else { "" },
                    4.0 + p / 100.0 * 20.0
                )
            })
            .collect();
        let _ = write!(
            trend_rows,
            "<tr><td>{}</td><td><code>{}</code></td><td>{bars}</td><td>{:.1}%</td></tr>",
            escape(suite),
            escape(data),
            values.last().copied().unwrap_or(0.0)
        );
    }
    let mut rows = String::new();
    for v in &sorted {
        let name = page_name(v);
        std::fs::write(pages.join(&name), validation_page(v))?;
        let statistics = &v.result["statistics"];
        let passed = v.result["success"].as_bool() == Some(true);
        let _ = write!(
            rows,
            "<tr><td>{}</td><td class=\"{}\">{}</td><td><a href=\"validations/{name}\">{}</a></td>\
             <td><code>{}</code></td><td>{} of {}</td><td>{}</td></tr>",
            escape(&v.validated_at),
            if passed { "pass" } else { "fail" },
            if passed { "PASS" } else { "FAIL" },
            escape(&v.suite),
            escape(&v.data),
            statistics["successful_expectations"],
            statistics["evaluated_expectations"],
            escape(&v.checkpoint),
        );
    }
    let index = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Data docs</title>\
         <style>{STYLE}</style></head><body><h1>Data quality</h1>\
         <h2>Success rate over time</h2><table><thead><tr><th>Suite</th><th>Data</th>\
         <th>Runs (oldest to newest)</th><th>Latest</th></tr></thead><tbody>{trend_rows}</tbody></table>\
         <h2>Validations</h2><table><thead><tr><th>When</th><th>Status</th><th>Suite</th><th>Data</th>\
         <th>Expectations met</th><th>Checkpoint</th></tr></thead><tbody>{rows}</tbody></table>\
         </body></html>"
    );
    let path = dir.join("index.html");
    let temp = dir.join("index.html.partial");
    std::fs::write(&temp, index)?;
    std::fs::rename(&temp, &path)?;
    Ok(path)
}
