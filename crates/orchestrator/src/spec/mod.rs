//! DAG specifications: `pipelines/*.yml` files parsed strictly, task groups flattened into
//! dotted task ids, mapped tasks expanded, dependencies resolved and checked for cycles.

mod dag;
mod graph;
mod load;
mod task;

pub use dag::{Dag, DagBag, Notification, NotifyEvent, Task, TriggerRule};
pub use graph::downstream_closure;
pub use load::{PIPELINES_DIR, load_dag_file, load_dags, parse_instant};
pub use task::{HttpMethod, ModelsCommand, SensorMode, SensorSettings, TaskKind};
