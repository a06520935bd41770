//! Each batch's PostgreSQL transaction in the background, so that it overlaps the next batch's
//! state loads, processing and lake commit instead of following them.
//!
//! One transaction is under way at a time, on the sink's connection: the pipeline takes the
//! sink back (awaiting the transaction, and failing with its error) before it starts the next
//! one, and only after that batch's lake commit, so the lake is always at or ahead of
//! PostgreSQL, as the replay expects. The batch's [`Committed`] signal, awaited with its dead
//! letters before its Kafka offsets are committed, keeps offsets behind what PostgreSQL holds.
//!
//! Customer states are read meanwhile on the reader's own connection ([`PgStates`]), which
//! does not see a transaction still under way; the pipeline's state cache therefore keeps
//! every customer changed since the last committed transaction (see [`StateCache`]).
//!
//! [`StateCache`]: crate::process::StateCache

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::sink::{PgBatch, PgSink, PgStates};

/// The PostgreSQL sink with at most one transaction under way.
pub(super) struct PgWrites {
    /// The sink while no transaction is under way.
    sink: Option<PgSink>,
    /// The transaction under way, which hands the sink back.
    writing: Option<JoinHandle<(PgSink, Result<()>)>>,
    states: PgStates,
}

/// Tells when a batch's transaction has committed.
#[derive(Debug)]
pub struct Committed(oneshot::Receiver<std::result::Result<(), String>>);

impl Committed {
    /// Waits for the commit; an error if the transaction failed or never finished.
    pub(super) async fn wait(self) -> Result<()> {
        match self.0.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(Error::NotCommitted(message)),
            Err(_) => Err(Error::NotCommitted(
                "the transaction ended without an answer".to_string(),
            )),
        }
    }
}

impl PgWrites {
    pub fn new(sink: PgSink) -> PgWrites {
        PgWrites {
            states: sink.states(),
            sink: Some(sink),
            writing: None,
        }
    }

    /// The reader of stored customer states.
    pub fn states(&self) -> &PgStates {
        &self.states
    }

    /// The sink, once the transaction under way (if any) has committed; that transaction's
    /// error if it failed.
    pub async fn sink(&mut self) -> Result<&mut PgSink> {
        if let Some(writing) = self.writing.take() {
            let (sink, result) = writing
                .await
                .map_err(|e| Error::Internal(format!("the PostgreSQL write task failed: {e}")))?;
            self.sink = Some(sink);
            result?;
        }
        self.sink.as_mut().ok_or_else(|| {
            Error::Internal("the PostgreSQL sink was lost with a failed write task".to_string())
        })
    }

    /// Waits for the transaction under way, if any.
    pub async fn settle(&mut self) -> Result<()> {
        self.sink().await.map(|_| ())
    }

    /// Starts a batch's transaction in the background (after [`PgWrites::sink`], as one runs
    /// at a time); `then` runs once it has committed.
    pub fn start(
        &mut self,
        batch: PgBatch,
        then: impl FnOnce() + Send + 'static,
    ) -> Result<Committed> {
        let mut sink = match (self.sink.take(), &self.writing) {
            (Some(sink), None) => sink,
            _ => {
                return Err(Error::Internal(
                    "a PostgreSQL transaction started while another was under way".to_string(),
                ));
            }
        };
        let (tell, committed) = oneshot::channel();
        self.writing = Some(tokio::spawn(async move {
            let result = sink.write(&batch).await;
            match &result {
                Ok(()) => {
                    then();
                    let _ = tell.send(Ok(()));
                }
                Err(err) => {
                    let _ = tell.send(Err(err.to_string()));
                }
            }
            (sink, result)
        }));
        Ok(Committed(committed))
    }
}
