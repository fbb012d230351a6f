//! Running an import: records from the reading thread, checked against
//! what the store and the input so far hold, written in batches in one
//! transaction (or, on any invalid record, nothing at all).

use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet};
use utoipa::ToSchema;

use super::format::InputFormat;
use super::read::{self, Limits};
use super::record::{Parsed, Record};
use super::sink::Item;
use crate::db;
use crate::db::revisions::NewRevision;
use crate::error::{ApiError, FieldError};
use crate::models::event::{Event, EventInput};
use crate::models::revision::ChangeKind;
use crate::models::revision::ChangeMeta;
use crate::models::timeline::NewTimeline;
use crate::models::values::EventId;
use crate::telemetry::metrics;

/// Events written per statement.
pub const BATCH: usize = 2000;
/// Input bytes of the events written per statement: a batch of large
/// records is written sooner, so that an import's memory stays bounded.
pub const BATCH_BYTES: usize = 16 << 20;
/// Errors listed in a failed import's problem; `total_errors` counts all.
pub const MAX_LISTED: usize = 100;
/// Longest listed error message, in characters: messages may quote the
/// input, and a hundred of them must not add up to a hundred records.
const MAX_MESSAGE_CHARS: usize = 500;

/// What happens to a record whose `external_id` is already taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Mode {
    /// It is an error (the default).
    #[default]
    Create,
    /// The event with that `external_id` is replaced by the record.
    Upsert,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "create" => Ok(Self::Create),
            "upsert" => Ok(Self::Upsert),
            other => Err(format!("`{other}` is not one of: create, upsert")),
        }
    }
}

/// What a successful import did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"total": 3, "created": 2, "updated": 1, "unchanged": 0, "timelines_created": 0}))]
pub struct Summary {
    /// Records read.
    pub total: usize,
    /// New events.
    pub created: usize,
    /// Events replaced (`mode=upsert`), each with a new revision.
    pub updated: usize,
    /// Events a record matched exactly (`mode=upsert`): no new version.
    pub unchanged: usize,
    /// Timelines created from a bundle's `timelines`.
    pub timelines_created: usize,
}

/// Reads `reader` as `format` and writes its events, all or nothing.
/// Every revision records `meta`'s author, and its `known_at` unless the
/// record has its own (ACLED's `timestamp`).
pub async fn import(
    conn: &mut AsyncPgConnection,
    format: InputFormat,
    reader: impl std::io::Read + Send + 'static,
    mode: Mode,
    meta: ChangeMeta,
    limits: Limits,
) -> Result<Summary, ApiError> {
    let mut items = read::spawn(format, reader, limits);
    conn.transaction::<_, ApiError, _>(async |conn| {
        db::batch::without_jit(conn).await?;
        let mut loader = Loader::start(conn, mode, meta).await?;
        while let Some(item) = items.recv().await {
            loader.take(conn, item).await?;
        }
        loader.finish(conn).await
    })
    .await
}

/// The errors of an import: the first ones, and how many in all.
#[derive(Default)]
struct Errors {
    listed: Vec<FieldError>,
    total: usize,
    records: usize,
}

impl Errors {
    fn add(&mut self, line: u64, errors: Vec<FieldError>) {
        self.records += 1;
        self.total += errors.len();
        let room = MAX_LISTED.saturating_sub(self.listed.len());
        self.listed.extend(
            errors
                .into_iter()
                .take(room)
                .map(|e| shortened(e).at_line(line)),
        );
    }
}

fn shortened(mut error: FieldError) -> FieldError {
    if let Some((cut, _)) = error.message.char_indices().nth(MAX_MESSAGE_CHARS) {
        error.message.truncate(cut);
        error.message.push('…');
    }
    error
}

/// Validates records and writes them in batches, inside the import's transaction.
struct Loader {
    mode: Mode,
    author: Option<String>,
    /// The `known_at` of records that bring none.
    known_at: Option<chrono::DateTime<chrono::Utc>>,
    types: BTreeSet<String>,
    timelines: HashSet<String>,
    pending: Vec<(u64, Parsed)>,
    /// Input bytes of `pending`.
    pending_bytes: usize,
    /// External ids and ids in `pending` ([`pending_keys`]): a batch holds
    /// each at most once, so that a record naming an earlier one is written
    /// after it.
    pending_ids: HashSet<String>,
    errors: Errors,
    summary: Summary,
    ended: bool,
    /// The transaction's `now()`, which every row written gets as its time.
    now: chrono::DateTime<chrono::Utc>,
}

impl Loader {
    async fn start(
        conn: &mut AsyncPgConnection,
        mode: Mode,
        meta: ChangeMeta,
    ) -> Result<Self, ApiError> {
        let types = db::event_types::slugs(conn).await?.into_iter().collect();
        let timelines = db::timelines::list(conn)
            .await?
            .into_iter()
            .map(|t| t.slug.to_string())
            .collect();
        Ok(Self {
            mode,
            author: meta.author,
            known_at: meta.known_at,
            types,
            timelines,
            pending: Vec::with_capacity(BATCH),
            pending_bytes: 0,
            pending_ids: HashSet::new(),
            errors: Errors::default(),
            summary: Summary::default(),
            ended: false,
            now: db::batch::transaction_time(conn).await?,
        })
    }

    async fn take(&mut self, conn: &mut AsyncPgConnection, item: Item) -> Result<(), ApiError> {
        match item {
            Item::Timelines(timelines) => self.create_timelines(conn, timelines).await,
            Item::Records(records) => {
                for record in records {
                    self.record(conn, record).await?;
                }
                Ok(())
            }
            Item::Fatal(error) => {
                let line = error.line.unwrap_or(0);
                self.errors.add(line, vec![error]);
                Ok(())
            }
            Item::End => {
                self.ended = true;
                Ok(())
            }
        }
    }

    async fn create_timelines(
        &mut self,
        conn: &mut AsyncPgConnection,
        timelines: Vec<NewTimeline>,
    ) -> Result<(), ApiError> {
        self.flush(conn).await?;
        for timeline in timelines {
            if self.timelines.insert(timeline.slug.to_string()) {
                db::timelines::create(conn, timeline).await?;
                self.summary.timelines_created += 1;
            }
        }
        Ok(())
    }

    async fn record(
        &mut self,
        conn: &mut AsyncPgConnection,
        record: Record,
    ) -> Result<(), ApiError> {
        self.summary.total += 1;
        let parsed = match record.parsed {
            Ok(parsed) => parsed,
            Err(errors) => {
                self.errors.add(record.line, errors);
                return Ok(());
            }
        };
        let unknown = self.unknown_references(&parsed.input);
        if !unknown.is_empty() {
            self.errors.add(record.line, unknown);
            return Ok(());
        }
        let keys = pending_keys(&parsed);
        if keys.iter().any(|key| self.pending_ids.contains(key)) {
            self.flush(conn).await?;
        }
        self.pending_ids.extend(keys);
        self.pending.push((record.line, parsed));
        self.pending_bytes += record.bytes;
        if self.pending.len() >= BATCH || self.pending_bytes >= BATCH_BYTES {
            self.flush(conn).await?;
        }
        Ok(())
    }

    /// The event type and timelines must exist (or come earlier in a bundle).
    fn unknown_references(&self, input: &EventInput) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if !self.types.contains(input.event_type.as_str()) {
            errors.push(FieldError::new(
                "type",
                crate::suggest::unknown_type(input.event_type.as_str(), &self.types),
            ));
        }
        for (i, slug) in input.timelines.iter().enumerate() {
            if !self.timelines.contains(slug.as_str()) {
                errors.push(FieldError::new(
                    format!("timelines[{i}]"),
                    format!(
                        "no timeline with slug `{slug}`; create it first (POST /v1/timelines), \
                         or import a bundle whose `timelines` hold it"
                    ),
                ));
            }
        }
        errors
    }

    /// Writes the pending batch. Valid records are written even after
    /// errors (the transaction is rolled back in the end), so that the
    /// store keeps telling which external ids the input already used.
    async fn flush(&mut self, conn: &mut AsyncPgConnection) -> Result<(), ApiError> {
        let batch = std::mem::take(&mut self.pending);
        self.pending_ids.clear();
        self.pending_bytes = 0;
        if batch.is_empty() {
            return Ok(());
        }
        let external_ids = batch
            .iter()
            .filter_map(|(_, p)| p.input.external_id.as_ref().map(ToString::to_string))
            .collect();
        let existing = db::batch::existing(conn, external_ids).await?;
        let record_ids = batch
            .iter()
            .filter_map(|(_, p)| p.id.map(|id| id.0))
            .collect();
        let existing_ids = db::batch::existing_ids(conn, record_ids).await?;
        let given_known_at =
            self.known_at.is_some() || batch.iter().any(|(_, p)| p.known_at.is_some());
        let bounds = if given_known_at {
            let ids: Vec<EventId> = existing.values().map(|e| e.id).collect();
            Some(db::batch::known_at_bounds(conn, &ids).await?)
        } else {
            None
        };
        let (mut creates, mut updates) = (Vec::new(), Vec::new());
        for (line, parsed) in &batch {
            let by_external_id = parsed
                .input
                .external_id
                .as_ref()
                .and_then(|id| existing.get(id.as_str()));
            let by_id = parsed.id.and_then(|id| existing_ids.get(&id));
            let (id, update) = match self.target(parsed, by_id, by_external_id) {
                Ok(target) => target,
                Err(error) => {
                    self.errors.add(*line, vec![error]);
                    continue;
                }
            };
            let known_at = parsed.known_at.or(self.known_at);
            if let (Some(known_at), Some((now, latest))) = (known_at, &bounds)
                && let Some(error) =
                    db::events::known_at_error(known_at, *now, latest.get(&id).copied())
            {
                self.errors.add(*line, vec![error]);
                continue;
            }
            if update {
                updates.push((id, parsed));
            } else {
                creates.push((id, parsed));
            }
        }
        self.write(conn, &creates, &updates).await?;
        metrics::imported(creates.len() + updates.len());
        Ok(())
    }

    /// Which event a record writes, and whether it replaces it: the event
    /// with the record's `id` if there is one, else the event with its
    /// `external_id`, else a new event (with the record's `id` if it has one).
    fn target(
        &self,
        parsed: &Parsed,
        by_id: Option<&db::batch::Existing>,
        by_external_id: Option<&db::batch::Existing>,
    ) -> Result<(EventId, bool), FieldError> {
        if let (Some(a), Some(b)) = (by_id, by_external_id)
            && a.id != b.id
        {
            return Err(two_events(parsed, b.id));
        }
        match (by_id, by_external_id, self.mode) {
            (None, None, _) => Ok((parsed.id.unwrap_or_default(), false)),
            (Some(found), _, Mode::Upsert) | (None, Some(found), Mode::Upsert)
                if !found.deleted =>
            {
                Ok((found.id, true))
            }
            (Some(found), _, _) => Err(id_taken(found)),
            (None, Some(found), _) => Err(taken(parsed, found.deleted)),
        }
    }

    async fn write(
        &mut self,
        conn: &mut AsyncPgConnection,
        creates: &[(EventId, &Parsed)],
        updates: &[(EventId, &Parsed)],
    ) -> Result<(), ApiError> {
        let (create_rows, update_rows) = (rows(creates), rows(updates));
        db::batch::lock_live(conn, &ids(&update_rows)).await?;
        let before = by_id(db::events::find_many(conn, &ids(&update_rows)).await?);
        db::batch::insert(conn, &create_rows).await?;
        db::batch::update(conn, &update_rows).await?;
        let all: Vec<_> = create_rows.iter().chain(&update_rows).copied().collect();
        let shared = db::children::write_children(conn, &all, &ids(&update_rows)).await?;
        let now = self.now;
        let created: Vec<Event> = creates
            .iter()
            .map(|(id, p)| shared.event(*id, &p.input, 1, now, now))
            .collect();
        let mut changed = Vec::with_capacity(updates.len());
        let mut unchanged = Vec::new();
        for (id, parsed) in updates {
            let old = stored(&before, *id)?;
            let new = shared.event(*id, &parsed.input, old.version + 1, old.created_at, now);
            let fields = db::events::changed_fields(&old.writable_json(), &new);
            if fields.is_empty() {
                unchanged.push(old);
            } else {
                changed.push((new, fields, parsed.known_at.or(self.known_at)));
            }
        }
        let mut revisions: Vec<NewRevision> = created
            .iter()
            .zip(creates)
            .map(|(event, (_, parsed))| NewRevision {
                event,
                kind: ChangeKind::Created,
                changed_fields: db::events::changed_fields(&serde_json::Value::Null, event),
                known_at: parsed.known_at.or(self.known_at),
            })
            .collect();
        revisions.extend(changed.iter().map(|(event, fields, known_at)| NewRevision {
            event,
            kind: ChangeKind::Updated,
            changed_fields: fields.clone(),
            known_at: *known_at,
        }));
        db::batch::restore_versions(conn, &unchanged).await?;
        db::revisions::append(conn, &revisions, self.author.as_deref()).await?;
        self.summary.created += created.len();
        self.summary.updated += changed.len();
        self.summary.unchanged += unchanged.len();
        Ok(())
    }

    async fn finish(mut self, conn: &mut AsyncPgConnection) -> Result<Summary, ApiError> {
        self.flush(conn).await?;
        if self.errors.total > 0 {
            return Err(ApiError::ImportInvalid {
                errors: self.errors.listed,
                total_errors: self.errors.total,
                invalid_records: self.errors.records,
            });
        }
        if !self.ended {
            // The reading thread died without a word; never commit half an input.
            return Err(ApiError::internal(anyhow::anyhow!(
                "the import's reader stopped before the end of its input"
            )));
        }
        Ok(self.summary)
    }
}

fn taken(parsed: &Parsed, deleted: bool) -> FieldError {
    let id = parsed
        .input
        .external_id
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let message = if deleted {
        format!("external_id `{id}` belongs to a deleted event")
    } else {
        format!(
            "an event with external_id `{id}` already exists (or an earlier record has it); \
             mode=upsert replaces it"
        )
    };
    FieldError::new("external_id", message)
}

/// What a record is matched by, for [`Loader::pending_ids`].
fn pending_keys(parsed: &Parsed) -> Vec<String> {
    let external_id = parsed.input.external_id.as_ref().map(|e| format!("e:{e}"));
    let id = parsed.id.map(|id| format!("i:{id}"));
    external_id.into_iter().chain(id).collect()
}

fn id_taken(found: &db::batch::Existing) -> FieldError {
    let id = found.id;
    let message = if found.deleted {
        format!("id `{id}` belongs to a deleted event")
    } else {
        format!(
            "an event with id `{id}` already exists (or an earlier record has it); \
             mode=upsert replaces it"
        )
    };
    FieldError::new("id", message)
}

/// The record's `id` and `external_id` name two different events.
fn two_events(parsed: &Parsed, other: EventId) -> FieldError {
    let external_id = parsed
        .input
        .external_id
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    FieldError::new(
        "external_id",
        format!(
            "external_id `{external_id}` belongs to event {other}, not to the event with this \
             record's id"
        ),
    )
}

fn rows<'a>(list: &[(EventId, &'a Parsed)]) -> Vec<db::batch::Row<'a>> {
    list.iter().map(|(id, p)| (*id, &p.input)).collect()
}

fn ids(rows: &[db::batch::Row<'_>]) -> Vec<EventId> {
    rows.iter().map(|(id, _)| *id).collect()
}

fn by_id(events: Vec<Event>) -> HashMap<EventId, Event> {
    events.into_iter().map(|e| (e.id, e)).collect()
}

fn stored(events: &HashMap<EventId, Event>, id: EventId) -> Result<&Event, ApiError> {
    events
        .get(&id)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("event {id} vanished inside its import")))
}
