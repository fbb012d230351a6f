//! Every curl example in the Markdown (README.md, the other root `*.md`
//! files and `docs/*.md`) runs against a fresh server, so a doc that drifts
//! from the API fails here. The convention (also in CONTRIBUTING.md):
//!
//! - An example is a fenced block tagged `sh` or `bash` that contains `curl`.
//!   Each file's examples run in order, in one `bash` session with
//!   `set -euo pipefail`, so a variable set by one (`ID=$(curl … | jq -r .id)`)
//!   is there for the next. Blocks without `curl` (starting the server,
//!   `cargo test`) are not run.
//! - The session starts as the README tells a reader to start: a fresh
//!   server with the demo timeline loaded, `$BASE` its address (every
//!   `http://127.0.0.1:8080` in the examples is replaced by it) and `$TOKEN`
//!   an admin token. A file that uses `http://127.0.0.1:8081` also gets a
//!   second, empty server there, with its admin token in `$COPY_TOKEN`.
//!   The working directory holds `data/` and `tests/` of the repository (so
//!   `@tests/fixtures/acled-sample.csv` is found) and nothing else; `chronik`
//!   is the binary built for the tests, with `DATABASE_URL` set to the first
//!   server's database.
//! - Every request must answer 1xx–3xx. A block that shows errors says so in
//!   an HTML comment right before it, listing the status of each of its
//!   requests in order: `<!-- doctest: expect 201 412 -->`. A block that
//!   cannot run says why: `<!-- doctest: skip needs a second machine -->`.
//!   Examples may not use `curl -w` (the test reads each status with it).

use std::path::PathBuf;

use futures_util::StreamExt as _;

use crate::helpers::{TestApp, load_demo, spawn_app};

/// Fewer examples (code blocks) or requests than these means the extraction
/// broke, not that the docs shrank.
const MIN_EXAMPLES: usize = 25;
const MIN_REQUESTS: usize = 70;
/// The address the docs use for the server, and for a second one.
const DOC_BASE: &str = "http://127.0.0.1:8080";
const DOC_COPY: &str = "http://127.0.0.1:8081";

#[derive(Debug, Clone)]
struct Example {
    file: String,
    /// Line of the opening fence (1-based).
    line: usize,
    text: String,
    /// `Some(statuses)` for a block marked `expect`.
    expect: Option<Vec<u16>>,
}

#[derive(Debug)]
struct Doc {
    file: String,
    examples: Vec<Example>,
    /// Blocks with `curl` marked `skip`, with their reasons.
    skipped: Vec<(usize, String)>,
    uses_copy: bool,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and the other Markdown files at the root, and `docs/*.md`.
fn markdown_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [repo(), repo().join("docs")] {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}"));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn contains_curl(text: &str) -> bool {
    text.lines()
        .map(|l| l.trim_start())
        .filter(|l| !l.starts_with('#'))
        .any(|l| {
            l.split(|c: char| !c.is_ascii_alphanumeric())
                .any(|w| w == "curl")
        })
}

/// The doc-test marker on `line`, if it is one: `<!-- doctest: … -->`.
fn marker(line: &str) -> Option<&str> {
    line.trim()
        .strip_prefix("<!-- doctest:")?
        .strip_suffix("-->")
        .map(str::trim)
}

fn parse(file: &str, markdown: &str) -> Doc {
    let mut doc = Doc {
        file: file.to_string(),
        examples: Vec::new(),
        skipped: Vec::new(),
        uses_copy: markdown.contains(DOC_COPY),
    };
    let lines: Vec<&str> = markdown.lines().collect();
    let mut pending: Option<(usize, &str)> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(m) = marker(line) {
            assert!(
                pending.is_none(),
                "{file}:{}: two doctest markers in a row",
                i + 1
            );
            pending = Some((i + 1, m));
            i += 1;
            continue;
        }
        let Some(info) = line.strip_prefix("```") else {
            if !line.trim().is_empty() {
                assert!(
                    pending.is_none(),
                    "{file}:{}: a doctest marker must come right before its code block",
                    i
                );
            }
            i += 1;
            continue;
        };
        let start = i;
        let mut body = Vec::new();
        i += 1;
        while i < lines.len() && !lines[i].starts_with("```") {
            body.push(lines[i]);
            i += 1;
        }
        assert!(
            i < lines.len(),
            "{file}:{}: unterminated code block",
            start + 1
        );
        i += 1;
        let text = body.join("\n");
        let runnable = matches!(info.trim(), "sh" | "bash") && contains_curl(&text);
        let mark = pending.take();
        if !runnable {
            assert!(
                mark.is_none(),
                "{file}:{}: a doctest marker on a block that is not a curl example",
                start + 1
            );
            continue;
        }
        let mut example = Example {
            file: file.to_string(),
            line: start + 1,
            text,
            expect: None,
        };
        match mark {
            None => doc.examples.push(example),
            Some((at, m)) => {
                if let Some(reason) = m.strip_prefix("skip") {
                    let reason = reason.trim();
                    assert!(!reason.is_empty(), "{file}:{at}: `skip` needs a reason");
                    doc.skipped.push((start + 1, reason.to_string()));
                } else if let Some(statuses) = m.strip_prefix("expect") {
                    let statuses: Vec<u16> = statuses
                        .split_whitespace()
                        .map(|s| {
                            s.parse()
                                .unwrap_or_else(|_| panic!("{file}:{at}: `{s}` is no status"))
                        })
                        .collect();
                    assert!(!statuses.is_empty(), "{file}:{at}: `expect` needs statuses");
                    example.expect = Some(statuses);
                    doc.examples.push(example);
                } else {
                    panic!(
                        "{file}:{at}: unknown doctest marker `{m}` (skip REASON, expect STATUS…)"
                    );
                }
            }
        }
    }
    assert!(
        pending.is_none(),
        "{file}: a doctest marker at the end of the file"
    );
    doc
}

fn docs() -> Vec<Doc> {
    markdown_files()
        .iter()
        .map(|path| {
            let name = path
                .strip_prefix(repo())
                .expect("under the repository")
                .display()
                .to_string();
            let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{name}: {e}"));
            parse(&name, &text)
        })
        .collect()
}

/// Replaces `curl` for the examples: records each response's status in
/// `$DOCTEST_LOG` (from `-w`, written to stderr and taken out of it again).
const PRELUDE: &str = r#"set -euo pipefail
curl() {
  local arg
  for arg in "$@"; do
    case "$arg" in
      -w|--write-out|-w?*) echo "doc test: examples may not use curl -w" >&2; return 2 ;;
    esac
  done
  local err rc=0
  err=$(mktemp)
  command curl -w '%{stderr}@@status %{http_code}\n' "$@" 2>"$err" || rc=$?
  sed -n 's/.*@@status //p' "$err" >>"$DOCTEST_LOG"
  sed 's/@@status [0-9]*$//' "$err" | grep -v '^$' >&2 || true
  rm -f "$err"
  return "$rc"
}
"#;

fn script(doc: &Doc, base: &str, copy: Option<&str>) -> String {
    let mut script = PRELUDE.to_string();
    for (n, example) in doc.examples.iter().enumerate() {
        let mut text = example.text.replace(DOC_BASE, base);
        if let Some(copy) = copy {
            text = text.replace(DOC_COPY, copy);
        }
        script.push_str(&format!(
            "\n# {}:{}\nprintf '@@block {n}\\n' >>\"$DOCTEST_LOG\"\n{text}\n",
            example.file, example.line
        ));
    }
    script.push_str("\nprintf '@@end\\n' >>\"$DOCTEST_LOG\"\n");
    script
}

/// A directory holding the repository's `data/` and `tests/` and nothing else.
fn workdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chronik-docs-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("a working directory");
    for name in ["data", "tests"] {
        std::os::unix::fs::symlink(repo().join(name), dir.join(name)).expect("a symlink");
    }
    dir
}

async fn demo_app() -> TestApp {
    let app = spawn_app().await;
    let mut conn = app.pool.get().await.expect("a connection");
    load_demo(&mut conn).await;
    drop(conn);
    app
}

/// Runs one file's examples; `Ok` counts the requests they sent, `Err` says
/// what went wrong, with the output.
async fn run(doc: &Doc) -> Result<usize, String> {
    let app = demo_app().await;
    let copy = if doc.uses_copy {
        Some(spawn_app().await)
    } else {
        None
    };
    let dir = workdir();
    let log = dir.join("doctest.log");
    let chronik = PathBuf::from(env!("CARGO_BIN_EXE_chronik"));
    let bin_dir = chronik.parent().expect("the binary's directory");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = tokio::process::Command::new("bash");
    command
        .arg("-c")
        .arg(script(
            doc,
            &app.address,
            copy.as_ref().map(|c| c.address.as_str()),
        ))
        .current_dir(&dir)
        .env("PATH", path)
        .env("BASE", &app.address)
        .env("TOKEN", &app.admin.secret)
        .env("DATABASE_URL", &app.config.database_url)
        .env("DOCTEST_LOG", &log)
        .env_remove("CHRONIK_LOG")
        .env_remove("CHRONIK_LOG_FORMAT");
    if let Some(copy) = &copy {
        command.env("COPY_TOKEN", &copy.admin.secret);
    }
    let output = command.output().await.expect("running bash");
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail = |s: &str| {
        let start = s.len().saturating_sub(3000);
        let start = (start..=s.len())
            .find(|i| s.is_char_boundary(*i))
            .unwrap_or(0);
        s[start..].to_string()
    };
    let context = || {
        format!(
            "--- stdout (end) ---\n{}\n--- stderr (end) ---\n{}",
            tail(&stdout),
            tail(&stderr)
        )
    };

    // Each block's statuses, in order.
    let mut blocks: Vec<Vec<u16>> = Vec::new();
    let mut ended = false;
    for line in log_text.lines() {
        if line.starts_with("@@block ") {
            blocks.push(Vec::new());
        } else if line == "@@end" {
            ended = true;
        } else if let Some(block) = blocks.last_mut() {
            block.push(line.trim().parse().unwrap_or(0));
        }
    }
    if !output.status.success() || !ended {
        let at = blocks
            .len()
            .checked_sub(1)
            .and_then(|n| doc.examples.get(n));
        let statuses = blocks.last().cloned().unwrap_or_default();
        return Err(match at {
            Some(e) => format!(
                "{}:{}: the example failed ({}; statuses so far {statuses:?})\n{}",
                e.file,
                e.line,
                output.status,
                context()
            ),
            None => format!(
                "{}: the examples did not start ({})\n{}",
                doc.file,
                output.status,
                context()
            ),
        });
    }
    if blocks.len() != doc.examples.len() {
        return Err(format!(
            "{}: {} examples, but {} ran",
            doc.file,
            doc.examples.len(),
            blocks.len()
        ));
    }
    for (example, statuses) in doc.examples.iter().zip(&blocks) {
        let at = format!("{}:{}", example.file, example.line);
        if statuses.is_empty() {
            return Err(format!("{at}: the example sent no request"));
        }
        match &example.expect {
            Some(expected) if expected != statuses => {
                return Err(format!(
                    "{at}: expected statuses {expected:?}, got {statuses:?}\n{}",
                    context()
                ));
            }
            Some(_) => {}
            None => {
                if let Some(bad) = statuses.iter().find(|s| !(100..400).contains(*s)) {
                    return Err(format!(
                        "{at}: a request answered {bad} (statuses {statuses:?}); \
                         mark the block `<!-- doctest: expect … -->` if that is the point\n{}",
                        context()
                    ));
                }
            }
        }
    }
    let requests = blocks.iter().map(Vec::len).sum();
    eprintln!(
        "{}: {} examples, {requests} requests, {} skipped",
        doc.file,
        doc.examples.len(),
        doc.skipped.len()
    );
    Ok(requests)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_curl_example_in_the_docs_works_against_a_fresh_server() {
    let docs = docs();
    let found: usize = docs.iter().map(|d| d.examples.len()).sum();
    assert!(
        found >= MIN_EXAMPLES,
        "only {found} curl examples found in {:?}",
        docs.iter().map(|d| &d.file).collect::<Vec<_>>()
    );
    for name in [
        "README.md",
        "docs/querying.md",
        "docs/writing.md",
        "docs/history.md",
        "docs/formats.md",
        "docs/import.md",
        "docs/access.md",
        "docs/errors.md",
    ] {
        let doc = docs.iter().find(|d| d.file == name);
        assert!(
            doc.is_some_and(|d| !d.examples.is_empty()),
            "{name} has no curl examples"
        );
    }
    let with_examples: Vec<&Doc> = docs.iter().filter(|d| !d.examples.is_empty()).collect();
    // A few files at a time: each starts a server (two for some) on a database of its own.
    let results: Vec<Result<usize, String>> = futures_util::stream::iter(with_examples)
        .map(run)
        .buffer_unordered(3)
        .collect()
        .await;
    let mut failures = Vec::new();
    let mut requests = 0;
    for result in results {
        match result {
            Ok(n) => requests += n,
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(
        requests >= MIN_REQUESTS,
        "the {found} examples sent only {requests} requests"
    );
}

#[test]
fn examples_are_found_as_the_convention_says() {
    let doc = parse(
        "x.md",
        "text\n\n```sh\ncurl -s \"$BASE\"/v1/events\n```\n\n\
         <!-- doctest: expect 400 -->\n```bash\ncurl -s \"$BASE\"'/v1/events?tyoe=x'\n```\n\n\
         <!-- doctest: skip needs a second machine -->\n```sh\ncurl -s https://old.example/\n```\n\n\
         ```sh\ncargo test --locked\n```\n\n```json\n{\"curl\": 1}\n```\n\n\
         ```sh\n# curl in a comment only\nls\n```\n",
    );
    assert_eq!(doc.examples.len(), 2);
    assert_eq!(doc.examples[0].line, 3);
    assert_eq!(doc.examples[0].expect, None);
    assert_eq!(doc.examples[1].expect, Some(vec![400]));
    assert_eq!(
        doc.skipped,
        vec![(13, "needs a second machine".to_string())]
    );
}

#[test]
#[should_panic(expected = "a doctest marker on a block that is not a curl example")]
fn a_marker_on_a_block_that_does_not_run_is_refused() {
    parse("x.md", "<!-- doctest: expect 400 -->\n```sh\nls\n```\n");
}
