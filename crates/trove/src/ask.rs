//! `trove ask`: a question answered by the configured chat model from a vault's documents
//! ([`trove_engine::Engine::answer_stream`]), through the same access boundary as every
//! transport. The answer is printed as it is generated, then the numbered sources it may
//! cite; with `--json`, one JSON object once the answer is complete. A closed pipe is a clean
//! exit (and, by dropping the stream, stops the generation).
//!
//! A question is a one-off unless `--new` starts a conversation (its id is printed under the
//! sources) or `--conversation ID` continues one (the rewritten question is printed first);
//! the engine is then opened for writing, to keep the turn.

use std::io::{IsTerminal, Write};

use trove_config::Workspace;
use trove_engine::auth::Principal;
use trove_engine::{AnswerEvent, AnswerRequest, ChunkFilter, ConversationChoice, Engine, OpenMode, perm};
use trove_types::{Citation, Code};

use crate::Failure;
use crate::cli::AskArgs;

/// Runs `trove ask`.
pub fn run(ws: Workspace, args: &AskArgs) -> Result<(), Failure> {
    let conversation = match (&args.conversation, args.new) {
        (Some(id), _) => ConversationChoice::Continue(id.clone()),
        (None, true) => ConversationChoice::New,
        (None, false) => ConversationChoice::None,
    };
    let mode = if conversation == ConversationChoice::None { OpenMode::Read } else { OpenMode::Write };
    let engine = Engine::open(ws, mode, "trove ask")?;
    let vault = match &args.vault {
        Some(v) => v.clone(),
        None => engine.default_vault(&Principal::Local)?,
    };
    let access = engine.authorize::<perm::Search>(&Principal::Local, &vault)?;
    let req = AnswerRequest {
        question: args.question.clone(),
        mode: args.mode.map(Into::into),
        limit: args.limit,
        filter: ChunkFilter { source: args.source.clone(), uri_prefix: args.uri_prefix.clone(), metadata: Vec::new() },
        conversation,
        memories: args.memories.then_some(true),
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let answer = engine.answer(&access, &req)?;
        let line = serde_json::to_string(&answer).map_err(|e| Failure::new(Code::Internal, e.to_string()))?;
        return writeln!(out, "{line}").or_else(closed);
    }
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut citations = Vec::new();
    let mut stream = engine.answer_stream(&access, &req)?;
    if let Some(q) = stream.rewritten_question() {
        let line = if color { format!("\x1b[2m(as: {q})\x1b[0m") } else { format!("(as: {q})") };
        let written = writeln!(out, "{line}\n");
        if let Err(e) = written {
            return closed(e);
        }
    }
    let conversation_id = stream.conversation_id().map(str::to_string);
    while let Some(event) = stream.next() {
        let written = match event {
            Ok(AnswerEvent::Citations(c)) => {
                citations = c;
                Ok(())
            }
            Ok(AnswerEvent::Token(text)) => write!(out, "{text}").and_then(|()| out.flush()),
            Ok(AnswerEvent::Done { .. }) => {
                if let Some(turn) = stream.take_finished() {
                    engine.record_turn(turn)?;
                }
                writeln!(out).and_then(|()| sources(&mut out, &citations, color)).and_then(
                    |()| match &conversation_id {
                        Some(id) => writeln!(out, "\nconversation: {id} (continue with --conversation {id})"),
                        None => Ok(()),
                    },
                )
            }
            Err(e) => {
                // What was printed stays; the failure ends the line and the command.
                let _ = writeln!(out);
                return Err(e.into());
            }
        };
        if let Err(e) = written {
            return closed(e);
        }
    }
    Ok(())
}

/// The numbered sources under the answer.
fn sources(out: &mut impl Write, citations: &[Citation], color: bool) -> std::io::Result<()> {
    if citations.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "{}", if color { "\x1b[1mSources\x1b[0m" } else { "Sources" })?;
    for c in citations {
        writeln!(out, "{}", source_line(c, color))?;
    }
    Ok(())
}

/// `[n] Title  uri › heading › heading  url`.
fn source_line(c: &Citation, color: bool) -> String {
    let mut location = c.uri.clone();
    for heading in &c.heading_path {
        location.push_str(" › ");
        location.push_str(heading);
    }
    let url = c.url.as_deref().filter(|u| *u != c.uri).map(|u| format!("  {u}")).unwrap_or_default();
    if color {
        format!("[{}] \x1b[1m{}\x1b[0m  \x1b[2m{location}{url}\x1b[0m", c.n, c.title)
    } else {
        format!("[{}] {}  {location}{url}", c.n, c.title)
    }
}

/// A closed pipe is a clean exit; another write failure is an error.
fn closed(e: std::io::Error) -> Result<(), Failure> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(Failure::new(Code::IoFailed, format!("writing output: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn citation(n: u32, uri: &str, url: Option<&str>, headings: &[&str]) -> Citation {
        Citation {
            n,
            kind: trove_types::CitationKind::Chunk,
            document_id: 1,
            chunk_id: 2,
            memory_id: None,
            uri: uri.into(),
            title: "Tomatoes".into(),
            url: url.map(str::to_string),
            heading_path: headings.iter().map(|h| h.to_string()).collect(),
            snippet: String::new(),
        }
    }

    #[test]
    fn sources_are_numbered_with_their_place_and_address() {
        let mut out = Vec::new();
        let list = [
            citation(1, "tomatoes.md", None, &["Tomatoes", "Watering"]),
            citation(2, "https://wiki.test/p", Some("https://wiki.test/p"), &[]),
            citation(3, "PAGE-1", Some("https://jira.test/PAGE-1"), &[]),
        ];
        sources(&mut out, &list, false).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\nSources\n[1] Tomatoes  tomatoes.md › Tomatoes › Watering\n[2] Tomatoes  https://wiki.test/p\n\
             [3] Tomatoes  PAGE-1  https://jira.test/PAGE-1\n"
        );
        let mut none = Vec::new();
        sources(&mut none, &[], false).unwrap();
        assert!(none.is_empty(), "no sources, no heading");
    }
}
