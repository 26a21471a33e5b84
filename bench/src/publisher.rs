//! How the soak's publisher hands events to hookpost, as a team's backend would: one per
//! request, ten per batch request, or ten per `SendMessageBatch` to the ingest queue. Half the events (the even ones) carry an `event_id` of the publisher's own and
//! are sent again with it until accepted; the others let hookpost choose, and one that was
//! not accepted is sent again as a new event.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde_json::{json, Value};

use crate::procs::{Api, ADMIN_KEY};

/// Events per batch request and per `SendMessageBatch`.
pub const CHUNK: u64 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// `POST /internal/v1/events`, one event a request.
    Single,
    /// `POST /internal/v1/events/batch`, ten events a request.
    Batch,
    /// The ingest queue on SQS, ten events a `SendMessageBatch`.
    Ingest,
}

impl Via {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "single" => Some(Self::Single),
            "batch" => Some(Self::Batch),
            "ingest" => Some(Self::Ingest),
            _ => None,
        }
    }

    pub fn chunk(self) -> u64 {
        match self {
            Self::Single => 1,
            Self::Batch | Self::Ingest => CHUNK,
        }
    }
}

/// Where the events go.
pub enum Target {
    Http(Box<Api>),
    /// The ingest queue's URL; accepted once SQS has it.
    Queue(aws_sdk_sqs::Client, String),
}

pub struct Publisher {
    pub target: Target,
    pub via: Via,
    pub account: String,
    /// Each answer the publisher got, by status (or "no answer"), for the report.
    pub answers: Mutex<BTreeMap<String, u64>>,
}

impl Publisher {
    /// Publishes the events `range` until each is accepted; their event ids.
    pub async fn accept(&self, range: Range<u64>) -> Vec<String> {
        let mut waiting: Vec<(u64, Value)> = range.map(|i| (i, self.event(i))).collect();
        let mut accepted = Vec::with_capacity(waiting.len());
        let mut pause = Duration::from_millis(20);
        while !waiting.is_empty() {
            let answers = self.send(&waiting).await;
            let mut left = Vec::new();
            for ((i, body), answer) in waiting.into_iter().zip(answers) {
                match answer {
                    Some(id) => accepted.push(id),
                    None => left.push((i, body)),
                }
            }
            waiting = left;
            if !waiting.is_empty() {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        }
        accepted
    }

    fn event(&self, i: u64) -> Value {
        let mut body = json!({"account_id": self.account, "event": "soak.event", "data": {"n": i}});
        if i.is_multiple_of(2) {
            body["event_id"] = json!(format!("soak-{i}-{:016x}", rand::random::<u64>()));
        }
        body
    }

    fn count(&self, label: String, n: u64) {
        *self.answers.lock().unwrap_or_else(|e| e.into_inner()).entry(label).or_default() += n;
    }

    /// One try for `events`: each one's id if it was accepted.
    async fn send(&self, events: &[(u64, Value)]) -> Vec<Option<String>> {
        match (&self.target, self.via) {
            (Target::Http(api), Via::Single) => {
                let mut ids = Vec::with_capacity(events.len());
                for (_, body) in events {
                    let answer = api.call("POST", "/internal/v1/events", Some(ADMIN_KEY), Some(body)).await;
                    self.count(answer.as_ref().map_or_else(|_| "no answer".to_owned(), |(s, _)| s.to_string()), 1);
                    ids.push(match answer {
                        Ok((202, value)) => value["event_id"].as_str().map(str::to_owned),
                        _ => None,
                    });
                }
                ids
            }
            (Target::Http(api), _) => {
                let body = json!({"events": events.iter().map(|(_, e)| e).collect::<Vec<_>>()});
                let answer = api.call("POST", "/internal/v1/events/batch", Some(ADMIN_KEY), Some(&body)).await;
                match answer {
                    Ok((202, value)) => {
                        let results = value["results"].as_array().cloned().unwrap_or_default();
                        let ids: Vec<Option<String>> = (0..events.len())
                            .map(|k| results.get(k).and_then(|r| r["event_id"].as_str()).map(str::to_owned))
                            .collect();
                        let refused = ids.iter().filter(|id| id.is_none()).count() as u64;
                        self.count("202 (event accepted)".to_owned(), events.len() as u64 - refused);
                        if refused > 0 {
                            self.count("202 (event refused in the batch)".to_owned(), refused);
                        }
                        ids
                    }
                    other => {
                        let label = other.map_or_else(|_| "no answer".to_owned(), |(s, _)| format!("{s} (batch)"));
                        self.count(label, events.len() as u64);
                        vec![None; events.len()]
                    }
                }
            }
            (Target::Queue(sqs, url), _) => {
                let entries: Vec<SendMessageBatchRequestEntry> = events
                    .iter()
                    .enumerate()
                    .filter_map(|(k, (_, e))| {
                        SendMessageBatchRequestEntry::builder()
                            .id(k.to_string())
                            .message_body(e.to_string())
                            .build()
                            .ok()
                    })
                    .collect();
                match sqs.send_message_batch().queue_url(url).set_entries(Some(entries)).send().await {
                    Ok(out) => {
                        let mut ids = vec![None; events.len()];
                        for sent in out.successful {
                            if let Some(k) = sent.id.parse::<usize>().ok().filter(|k| *k < events.len()) {
                                // The id ingest-events gives it: its own, else its message's.
                                let own = events[k].1["event_id"].as_str().map(str::to_owned);
                                ids[k] = Some(own.unwrap_or_else(|| format!("evt_{}", sent.message_id)));
                            }
                        }
                        let kept = ids.iter().filter(|id| id.is_some()).count() as u64;
                        self.count("sent to the ingest queue".to_owned(), kept);
                        ids
                    }
                    Err(_) => {
                        self.count("SQS refused".to_owned(), events.len() as u64);
                        vec![None; events.len()]
                    }
                }
            }
        }
    }
}
