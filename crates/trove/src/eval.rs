//! `trove eval`: search quality on the user's own judged queries (BEIR's files as they are),
//! one row of nDCG@10, Recall@100 and MRR per mode, so a configuration change can be measured
//! before it is kept.

use std::io::Write;
use std::path::Path;

use trove_config::Workspace;
use trove_engine::auth::Principal;
use trove_engine::eval::{EvalScores, parse_qrels, parse_queries};
use trove_engine::{Engine, OpenMode, SearchSettings, perm};
use trove_types::{Code, SearchMode};

use crate::Failure;
use crate::cli::EvalArgs;

fn read(path: &Path, what: &str) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure::new(Code::IoFailed, format!("cannot read the {what} file {}: {e}", path.display())))
}

/// Runs `trove eval`.
pub fn run(ws: Workspace, args: &EvalArgs) -> Result<(), Failure> {
    let queries = parse_queries(&read(&args.queries, "queries")?, &args.queries.display().to_string())?;
    let judgments = parse_qrels(&read(&args.qrels, "qrels")?, &args.qrels.display().to_string())?;
    let judged = queries.iter().filter(|q| judgments.contains_key(&q.id)).count();
    if judged == 0 {
        return Err(Failure::new(
            Code::BadRequest,
            format!(
                "none of the {} queries of {} has a positive judgment in {} ({} queries judged there): the qrels' first column must hold the queries' `_id`s",
                queries.len(),
                args.queries.display(),
                args.qrels.display(),
                judgments.len()
            ),
        ));
    }
    let engine = Engine::open(ws, OpenMode::Read, "trove eval")?;
    let vault = match &args.vault {
        Some(v) => v.clone(),
        None => engine.default_vault(&Principal::Local)?,
    };
    let access = engine.authorize::<perm::Search>(&Principal::Local, &vault)?;
    let modes: Vec<SearchMode> = if args.mode.is_empty() {
        vec![SearchMode::Keyword, SearchMode::Semantic, SearchMode::Hybrid]
    } else {
        args.mode.iter().map(|&m| m.into()).collect()
    };
    let mut rows: Vec<(SearchMode, EvalScores)> = Vec::new();
    for mode in modes {
        let settings = SearchSettings { mode: Some(mode), fusion: args.fusion.into(), ..SearchSettings::default() };
        rows.push((mode, engine.evaluate(&access, &queries, &judgments, &settings)?));
    }
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        let modes: Vec<serde_json::Value> = rows
            .iter()
            .map(|(mode, s)| {
                let mut v = serde_json::to_value(s).unwrap_or_default();
                v["mode"] = serde_json::json!(mode);
                v
            })
            .collect();
        let report = serde_json::json!({
            "vault": vault,
            "queries_in_file": queries.len(),
            "judged_queries": judged,
            "modes": modes,
        });
        writeln!(out, "{report}")
    } else {
        (|| {
            writeln!(
                out,
                "vault {vault}: {judged} judged queries ({} in {}, the others have no positive judgment)",
                queries.len(),
                args.queries.display()
            )?;
            writeln!(out, "{:<10} {:>8} {:>11} {:>8}", "mode", "nDCG@10", "Recall@100", "MRR")?;
            for (mode, s) in &rows {
                writeln!(out, "{:<10} {:>8.4} {:>11.4} {:>8.4}", mode.as_str(), s.ndcg_at_10, s.recall_at_100, s.mrr)?;
            }
            Ok(())
        })()
    };
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::new(Code::IoFailed, format!("writing output: {e}")))
        }
        _ => Ok(()),
    }
}
