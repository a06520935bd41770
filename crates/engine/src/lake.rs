//! The lake: a directory (or object-store prefix) holding one Delta Lake table per folder.
//!
//! Every write is a Delta commit, so a table is never seen half-written: readers see the previous
//! version until the commit file lands, and a crash leaves at most unreferenced data files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::Schema;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::{DeltaTable, DeltaTableError};
use url::Url;

use crate::error::{Error, Result};

/// A lake location and the options to reach it.
#[derive(Debug, Clone)]
pub struct Lake {
    url: Url,
    local_root: Option<PathBuf>,
    storage_options: HashMap<String, String>,
}

/// What `dataflow tables` shows about one lake table.
#[derive(Debug, Clone)]
pub struct TableInfo {
    /// Table name.
    pub name: String,
    /// Latest Delta version.
    pub version: u64,
    /// Number of data files in the latest version.
    pub files: usize,
    /// Rows in the latest version, from the file statistics.
    pub rows: Option<u64>,
}

impl Lake {
    /// Opens the lake at `location`: a local directory (created if missing) or a URL.
    pub fn open(location: &str, storage_options: HashMap<String, String>) -> Result<Lake> {
        let bad = |message: String| Error::Location {
            location: location.to_string(),
            message,
        };
        if location.contains("://") && !location.starts_with("file://") {
            let mut url = Url::parse(location).map_err(|e| bad(e.to_string()))?;
            if !url.path().ends_with('/') {
                url.set_path(&format!("{}/", url.path()));
            }
            return Ok(Lake {
                url,
                local_root: None,
                storage_options,
            });
        }
        let path = match location.strip_prefix("file://") {
            Some(rest) => PathBuf::from(rest),
            None => PathBuf::from(location),
        };
        std::fs::create_dir_all(&path).map_err(|source| Error::Io {
            context: format!("cannot create lake directory {}", path.display()),
            source,
        })?;
        let root = path.canonicalize().map_err(|source| Error::Io {
            context: format!("cannot resolve lake directory {}", path.display()),
            source,
        })?;
        let url = Url::from_directory_path(&root)
            .map_err(|()| bad("not an absolute directory path".to_string()))?;
        Ok(Lake {
            url,
            local_root: Some(root),
            storage_options,
        })
    }

    /// The lake's root URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The local directory of the lake, when it is on the local file system.
    pub fn local_root(&self) -> Option<&Path> {
        self.local_root.as_deref()
    }

    /// The URL of a table.
    pub fn table_url(&self, name: &str) -> Result<Url> {
        self.url
            .join(&format!("{name}/"))
            .map_err(|e| Error::Location {
                location: self.url.to_string(),
                message: format!("table `{name}`: {e}"),
            })
    }

    /// Loads a table at its latest version; `None` when it does not exist yet.
    pub async fn load(&self, name: &str) -> Result<Option<DeltaTable>> {
        let url = self.table_url(name)?;
        if let Some(root) = &self.local_root
            && !root.join(name).join("_delta_log").is_dir()
        {
            return Ok(None);
        }
        match deltalake::open_table_with_storage_options(url, self.storage_options.clone()).await {
            Ok(table) => Ok(Some(table)),
            Err(DeltaTableError::NotATable(_)) => Ok(None),
            Err(source) => Err(Error::delta(name)(source)),
        }
    }

    /// A handle on a location that holds no table yet (its folder created on a local lake);
    /// built without loading, since there is nothing to load.
    fn new_table_handle(&self, name: &str) -> Result<DeltaTable> {
        let url = self.table_url(name)?;
        if let Some(root) = &self.local_root {
            let dir = root.join(name);
            std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
                context: format!("cannot create table directory {}", dir.display()),
                source,
            })?;
        }
        deltalake::DeltaTableBuilder::from_url(url)
            .and_then(|b| b.with_storage_options(self.storage_options.clone()).build())
            .map_err(Error::delta(name))
    }

    /// Loads a table that must exist.
    async fn load_existing(&self, name: &str) -> Result<DeltaTable> {
        self.load(name).await?.ok_or_else(|| Error::Location {
            location: self.url.to_string(),
            message: format!("table `{name}` does not exist"),
        })
    }

    /// Loads a table, creating it empty with `schema` when it does not exist.
    pub async fn load_or_create(
        &self,
        name: &str,
        schema: &Schema,
        description: Option<&str>,
    ) -> Result<DeltaTable> {
        self.load_or_create_partitioned(name, schema, &[], description)
            .await
    }

    /// Loads a table, creating it empty with `schema` and partitioned by `partition_columns`
    /// (Hive-style folders) when it does not exist. An existing table is returned as it is.
    pub async fn load_or_create_partitioned(
        &self,
        name: &str,
        schema: &Schema,
        partition_columns: &[&str],
        description: Option<&str>,
    ) -> Result<DeltaTable> {
        if let Some(table) = self.load(name).await? {
            return Ok(table);
        }
        let table = self.new_table_handle(name)?;
        let kernel_schema: deltalake::kernel::StructType = schema
            .try_into_kernel()
            .map_err(|e| Error::delta(name)(DeltaTableError::from(e)))?;
        let mut create = table
            .create()
            .with_table_name(name)
            .with_columns(kernel_schema.fields().cloned());
        if !partition_columns.is_empty() {
            create = create.with_partition_columns(partition_columns.iter().copied());
        }
        if let Some(description) = description {
            create = create.with_comment(description);
        }
        match create.await {
            Ok(table) => Ok(table),
            // Another process created it meanwhile (two stream processes starting at once on
            // a new lake): use theirs.
            Err(err) => match self.load(name).await? {
                Some(table) => Ok(table),
                None => Err(Error::delta(name)(err)),
            },
        }
    }

    /// Replaces a table's contents (and schema) with `batches` as one new version, creating the
    /// table if needed. Readers see the old or the new contents, never a mix.
    pub async fn replace(
        &self,
        name: &str,
        batches: Vec<datafusion::arrow::array::RecordBatch>,
    ) -> Result<u64> {
        let table = match self.load(name).await? {
            Some(table) => table,
            None => self.new_table_handle(name)?,
        };
        let batches = for_delta(batches)?;
        let table = table
            .write(batches)
            .with_save_mode(deltalake::protocol::SaveMode::Overwrite)
            .with_schema_mode(deltalake::operations::write::SchemaMode::Overwrite)
            .with_table_name(name)
            .await
            .map_err(Error::delta(name))?;
        Ok(table.version().unwrap_or_default())
    }

    /// Replaces a table's contents (and schema) with the rows of `frame`, streamed: the query
    /// runs while its batches are encoded into Parquet files, so memory does not grow with the
    /// result. One new version; readers see the old or the new contents, never a mix. Returns
    /// the rows written.
    pub async fn replace_from(
        &self,
        ctx: &datafusion::prelude::SessionContext,
        name: &str,
        frame: datafusion::prelude::DataFrame,
    ) -> Result<u64> {
        use datafusion::arrow::datatypes::{DataType, TimeUnit};
        use datafusion::logical_expr::{cast, ident};
        // Delta stores microseconds: cast nanosecond timestamps in the plan.
        let needs_cast = frame
            .schema()
            .fields()
            .iter()
            .any(|f| matches!(f.data_type(), DataType::Timestamp(TimeUnit::Nanosecond, _)));
        let frame = if needs_cast {
            let exprs: Vec<_> = frame
                .schema()
                .fields()
                .iter()
                .map(|f| match f.data_type() {
                    DataType::Timestamp(TimeUnit::Nanosecond, tz) => cast(
                        ident(f.name()),
                        DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
                    )
                    .alias(f.name()),
                    _ => ident(f.name()),
                })
                .collect();
            frame.select(exprs)?
        } else {
            frame
        };
        let table = match self.load(name).await? {
            Some(table) => table,
            None => self.new_table_handle(name)?,
        };
        let plan = frame.logical_plan().clone();
        let table = table
            .write(Vec::new())
            .with_input_plan(plan)
            .with_session_state(std::sync::Arc::new(ctx.state()))
            .with_save_mode(deltalake::protocol::SaveMode::Overwrite)
            .with_schema_mode(deltalake::operations::write::SchemaMode::Overwrite)
            .with_table_name(name)
            .await
            .map_err(Error::delta(name))?;
        // The commit's own metrics say how many rows it added.
        use futures::StreamExt as _;
        let mut history = table.history(Some(1));
        let rows = match history.next().await {
            Some(Ok(commit)) => commit
                .info
                .get("operationMetrics")
                .and_then(|m| m.get("num_added_rows"))
                .and_then(|v| {
                    v.as_u64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                }),
            _ => None,
        };
        Ok(rows.unwrap_or_default())
    }

    /// Appends `batches` to an existing table as one new version.
    pub async fn append(
        &self,
        name: &str,
        batches: Vec<datafusion::arrow::array::RecordBatch>,
    ) -> Result<u64> {
        let table = self.load_existing(name).await?;
        let batches = for_delta(batches)?;
        let table = table
            .write(batches)
            .with_save_mode(deltalake::protocol::SaveMode::Append)
            .await
            .map_err(Error::delta(name))?;
        Ok(table.version().unwrap_or_default())
    }

    /// Merges `batches` into an existing table on `keys`: matching rows are updated, new rows
    /// inserted, all in one Delta commit. Returns the new version and the rows updated and inserted.
    pub async fn merge(
        &self,
        ctx: &datafusion::prelude::SessionContext,
        name: &str,
        batches: Vec<datafusion::arrow::array::RecordBatch>,
        keys: &[String],
    ) -> Result<(u64, usize, usize)> {
        let table = self.load_existing(name).await?;
        let batches = for_delta(batches)?;
        let Some(first) = batches.first() else {
            return Ok((table.version().unwrap_or_default(), 0, 0));
        };
        let columns: Vec<String> = first
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let source = ctx.read_batches(batches)?;
        let predicate = keys
            .iter()
            .map(|k| format!("target.{k} = source.{k}"))
            .collect::<Vec<_>>()
            .join(" and ");
        let (table, metrics) = table
            .merge(source, predicate.as_str())
            .with_source_alias("source")
            .with_target_alias("target")
            .when_matched_update(|update| {
                columns.iter().fold(update, |u, c| {
                    u.update(c.as_str(), format!("source.{c}").as_str())
                })
            })
            .and_then(|m| {
                m.when_not_matched_insert(|insert| {
                    columns.iter().fold(insert, |i, c| {
                        i.set(c.as_str(), format!("source.{c}").as_str())
                    })
                })
            })
            .map_err(Error::delta(name))?
            .await
            .map_err(Error::delta(name))?;
        Ok((
            table.version().unwrap_or_default(),
            metrics.num_target_rows_updated,
            metrics.num_target_rows_inserted,
        ))
    }

    /// Names of all tables in the lake, sorted.
    pub async fn table_names(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        if let Some(root) = &self.local_root {
            let entries = std::fs::read_dir(root).map_err(|source| Error::Io {
                context: format!("cannot list lake directory {}", root.display()),
                source,
            })?;
            for entry in entries.flatten() {
                if entry.path().join("_delta_log").is_dir()
                    && let Some(name) = entry.file_name().to_str()
                {
                    names.push(name.to_string());
                }
            }
        } else {
            use futures::TryStreamExt as _;
            let (store, prefix) =
                object_store::parse_url_opts(&self.url, self.storage_options.clone()).map_err(
                    |e| Error::Location {
                        location: self.url.to_string(),
                        message: e.to_string(),
                    },
                )?;
            let listing = store
                .list_with_delimiter(Some(&prefix))
                .await
                .map_err(|e| Error::Io {
                    context: format!("cannot list lake {}", self.url),
                    source: std::io::Error::other(e),
                })?;
            for dir in listing.common_prefixes {
                let log = dir.clone().join("_delta_log");
                let mut files = store.list(Some(&log));
                if files.try_next().await.ok().flatten().is_some()
                    && let Some(name) = dir.filename()
                {
                    names.push(name.to_string());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    /// Version, file count and row count of every table.
    pub async fn tables(&self) -> Result<Vec<TableInfo>> {
        let mut infos = Vec::new();
        for name in self.table_names().await? {
            let Some(table) = self.load(&name).await? else {
                continue;
            };
            let version = table.version().unwrap_or_default();
            let snapshot = table.snapshot().map_err(Error::delta(&name))?;
            let files = snapshot.log_data().num_files();
            let rows = snapshot
                .log_data()
                .iter()
                .map(|file| file.num_records().map(|n| n as u64))
                .sum::<Option<u64>>();
            infos.push(TableInfo {
                name,
                version,
                files,
                rows,
            });
        }
        Ok(infos)
    }
}

/// Prepares batches for a Delta write (see [`to_micros`]).
fn for_delta(
    batches: Vec<datafusion::arrow::array::RecordBatch>,
) -> Result<Vec<datafusion::arrow::array::RecordBatch>> {
    batches
        .into_iter()
        .map(to_micros)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Sql(e.into()))
}

/// Delta Lake stores timestamps in microseconds: casts nanosecond timestamps (what DataFusion's
/// `now()` returns) explicitly, so nothing is truncated behind the user's back.
fn to_micros(
    batch: datafusion::arrow::array::RecordBatch,
) -> std::result::Result<datafusion::arrow::array::RecordBatch, datafusion::arrow::error::ArrowError>
{
    use datafusion::arrow::datatypes::{DataType, Field, TimeUnit};
    let schema = batch.schema();
    if !schema
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::Timestamp(TimeUnit::Nanosecond, _)))
    {
        return Ok(batch);
    }
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if let DataType::Timestamp(TimeUnit::Nanosecond, tz) = field.data_type() {
            let target = DataType::Timestamp(TimeUnit::Microsecond, tz.clone());
            columns.push(datafusion::arrow::compute::cast(column, &target)?);
            fields.push(Field::new(field.name(), target, field.is_nullable()));
        } else {
            columns.push(column.clone());
            fields.push(field.as_ref().clone());
        }
    }
    datafusion::arrow::array::RecordBatch::try_new(
        std::sync::Arc::new(datafusion::arrow::datatypes::Schema::new(fields)),
        columns,
    )
}
