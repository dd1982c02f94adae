//! The dead letters, for `emporium events dead` and `events replay`: each
//! group's `<group>.dead` topic read from its start. A replayed letter is
//! sent to the group's retry topic (which that group alone reads) and
//! followed, in the dead topic, by an empty record with its key, so it is
//! no longer listed.

use crate::{ATTEMPTS, ERROR, Group, KafkaBus, client_config};
use messaging::DeadLetter;
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::{Headers as _, OwnedHeaders};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const READ_TIMEOUT: Duration = Duration::from_secs(10);

fn header(message: &rdkafka::message::BorrowedMessage<'_>, name: &str) -> Option<String> {
    let headers = message.headers()?;
    headers.iter().find(|h| h.key == name).and_then(|h| h.value).map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Every live letter of one dead topic, oldest first, with its record's
/// bytes (blocking: run it off the async threads).
fn read_dead(bus_config: rdkafka::ClientConfig, group: &Group) -> anyhow::Result<Vec<(DeadLetter, Vec<u8>)>> {
    let reader: BaseConsumer = bus_config
        .clone()
        .set("group.id", format!("{}.reader", group.dead))
        .set("enable.auto.commit", "false")
        .create()?;
    let (low, high) = reader.fetch_watermarks(&group.dead, 0, READ_TIMEOUT)?;
    let mut letters: BTreeMap<String, (i64, DeadLetter, Vec<u8>)> = BTreeMap::new();
    if high > low {
        let mut list = rdkafka::TopicPartitionList::new();
        list.add_partition_offset(&group.dead, 0, rdkafka::Offset::Offset(low))?;
        reader.assign(&list)?;
        let deadline = Instant::now() + READ_TIMEOUT;
        let mut next = low;
        while next < high {
            anyhow::ensure!(Instant::now() < deadline, "reading {} timed out", group.dead);
            let Some(message) = reader.poll(Duration::from_millis(200)) else { continue };
            let message = message?;
            next = message.offset() + 1;
            let id = message.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
            match message.payload() {
                None => {
                    letters.remove(&id);
                }
                Some(payload) => {
                    let letter = DeadLetter {
                        place: group.id.clone(),
                        event: messaging::envelope::decode(payload).ok(),
                        attempts: header(&message, ATTEMPTS).and_then(|a| a.parse().ok()).unwrap_or(0),
                        error: header(&message, ERROR),
                        id: id.clone(),
                    };
                    letters.insert(id, (message.offset(), letter, payload.to_vec()));
                }
            }
        }
    }
    let mut live: Vec<(i64, DeadLetter, Vec<u8>)> = letters.into_values().collect();
    live.sort_by_key(|(offset, _, _)| *offset);
    Ok(live.into_iter().map(|(_, letter, payload)| (letter, payload)).collect())
}

impl KafkaBus {
    /// Every dead letter of `groups`, oldest first per group.
    pub async fn dead_letters(&self, groups: &[Group]) -> anyhow::Result<Vec<DeadLetter>> {
        Ok(self.read_dead(groups).await?.into_iter().map(|(letter, _)| letter).collect())
    }

    /// [`KafkaBus::dead_letters`] with each record's bytes.
    async fn read_dead(&self, groups: &[Group]) -> anyhow::Result<Vec<(DeadLetter, Vec<u8>)>> {
        for group in groups {
            self.register_group(group.clone());
        }
        // Now, whether or not this process did before: groups may be new.
        self.create_topics().await?;
        let config = client_config(&self.settings);
        let groups = groups.to_vec();
        tokio::task::spawn_blocking(move || {
            let mut all = Vec::new();
            for group in &groups {
                all.extend(read_dead(config.clone(), group)?);
            }
            Ok(all)
        })
        .await?
    }

    /// Sends dead letter `id` back to its group alone, its attempts
    /// forgotten, and takes it out of the dead letters; whether it was found.
    pub async fn replay(&self, groups: &[Group], id: &str) -> anyhow::Result<bool> {
        let letters = self.read_dead(groups).await?;
        let Some((letter, payload)) = letters.into_iter().find(|(l, _)| l.id == id) else { return Ok(false) };
        let Some(group) = groups.iter().find(|g| g.id == letter.place) else { return Ok(false) };
        self.send(&group.retry, &letter.id, Some(&payload), OwnedHeaders::new()).await?;
        self.send(&group.dead, &letter.id, None, OwnedHeaders::new()).await?;
        Ok(true)
    }
}
