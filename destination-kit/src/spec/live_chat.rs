//! Live Chat: the four events share one set of properties.

use super::read::props;

props! {
    /// The properties of every Live Chat event.
    pub struct ChatProperties {
        /// `agent_id`.
        pub agent_id: Option<String> = "agent_id",
        /// `agent_name`.
        pub agent_name: Option<String> = "agent_name",
        /// `agent_username`.
        pub agent_username: Option<String> = "agent_username",
        /// `conversation_id`.
        pub conversation_id: Option<String> = "conversation_id",
        /// `conversation_duration`, seconds.
        pub conversation_duration: Option<f64> = "conversation_duration",
        /// `message_id`: the chat message (not the Segment `messageId`).
        pub message_id: Option<String> = "message_id",
        /// `message_body` (sent by every example of the spec, though no table lists it).
        pub message_body: Option<String> = "message_body",
    }
}
