//! The dead letters, for `emporium events dead` and `events replay`.

use crate::consume::{attempts_of, with_attempts};
use crate::{CONFIRM_TIMEOUT, ERROR, Queues, RabbitBus, by, close, declare, declare_exchange, publish_confirmed};
use lapin::options::{BasicAckOptions, BasicGetOptions, ConfirmSelectOptions};
use lapin::types::AMQPValue;
use messaging::DeadLetter;

fn error_of(properties: &lapin::BasicProperties) -> Option<String> {
    match properties.headers().as_ref()?.inner().get(ERROR)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

impl RabbitBus {
    /// Every dead letter of `groups`, oldest first per queue, left where
    /// they are (read unacked; the channel's close puts them back).
    pub async fn dead_letters(&self, groups: &[Queues]) -> anyhow::Result<Vec<DeadLetter>> {
        self.walk_dead(groups, None).await
    }

    /// Sends dead letter `id` back to its group's queue, its attempts
    /// forgotten, and takes it out of the dead letters; whether it was found.
    pub async fn replay(&self, groups: &[Queues], id: &str) -> anyhow::Result<bool> {
        Ok(!self.walk_dead(groups, Some(id)).await?.is_empty())
    }

    /// Reads every dead-letter queue of `groups` through; with `replay`,
    /// republishes the message of that id (answering it alone).
    async fn walk_dead(&self, groups: &[Queues], replay: Option<&str>) -> anyhow::Result<Vec<DeadLetter>> {
        let connection = self.connect().await?;
        let channel = connection.create_channel().await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        declare_exchange(&channel, &self.settings).await?;
        let mut found = Vec::new();
        for queues in groups {
            declare(&channel, queues, &self.settings).await?;
            while let Some(message) =
                channel.basic_get(queues.dead.as_str().into(), BasicGetOptions { no_ack: false }).await?
            {
                let d = message.delivery;
                let id = d.properties.message_id().as_ref().map(|s| s.as_str().to_owned()).unwrap_or_default();
                let letter = DeadLetter {
                    place: queues.main.clone(),
                    event: messaging::envelope::decode(&d.data).ok(),
                    attempts: attempts_of(&d.properties),
                    error: error_of(&d.properties),
                    id,
                };
                match replay {
                    Some(wanted) if wanted == letter.id => {
                        let properties = with_attempts(&d.properties, 0, None);
                        let deadline = tokio::time::Instant::now() + CONFIRM_TIMEOUT;
                        let publish = publish_confirmed(&channel, "", &queues.main, &d.data, properties, ());
                        by(deadline, "confirm the replay", publish).await?;
                        d.ack(BasicAckOptions::default()).await?;
                        close(connection.close(200, "replayed".into())).await;
                        return Ok(vec![letter]);
                    }
                    Some(_) => {}
                    None => found.push(letter),
                }
            }
        }
        // Closing puts back every message read and not acked.
        close(connection.close(200, "listed".into())).await;
        Ok(found)
    }
}
