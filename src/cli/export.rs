//! `mailroom export`: what the docketing system needs, on stdout.
//!
//! `--format json`: `{"communications":[{"id","application_number","document_code","title",
//! "dispatch_date","path","sha256","size","state","handled_at","documents":[…]}]}`; `path`,
//! `sha256` and `size` describe the first document, `documents` lists all; paths are relative
//! to the archive directory, `/`-separated.

use serde::Serialize;

use crate::config::Config;
use crate::store::{Store, communications};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Format {
    Json,
}

#[derive(Serialize)]
struct Export {
    communications: Vec<Row>,
}

#[derive(Serialize)]
struct Row {
    id: String,
    application_number: String,
    document_code: String,
    title: String,
    dispatch_date: String,
    path: Option<String>,
    sha256: Option<String>,
    size: Option<u64>,
    state: String,
    handled_at: Option<String>,
    documents: Vec<communications::DocView>,
}

pub async fn run(args: Args, cfg: &Config) -> anyhow::Result<()> {
    let store = Store::open(&cfg.storage.database)?;
    let list = store.call(|c| communications::list(c, None)).await?;
    let rows = list
        .into_iter()
        .map(|v| {
            let first = v.documents.first();
            Row {
                path: first.map(|d| d.path.clone()),
                sha256: first.map(|d| d.sha256.clone()),
                size: first.map(|d| d.size),
                id: v.id,
                application_number: v.application_number,
                document_code: v.document_code,
                title: v.title,
                dispatch_date: v.dispatch_date,
                state: v.state,
                handled_at: v.handled_at,
                documents: v.documents,
            }
        })
        .collect();
    match args.format {
        Format::Json => {
            super::print_stdout(&(serde_json::to_string_pretty(&Export { communications: rows })? + "\n"))
        }
    }
}
