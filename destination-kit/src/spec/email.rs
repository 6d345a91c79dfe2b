//! Email: one properties struct per event. The recipient's address travels in
//! `context.traits.email` (read it with [`Message::email`](crate::event::Message::email)).

use super::read::props;

props! {
    /// Email Bounced.
    pub struct EmailBounced {
        /// `email_id`.
        pub email_id: Option<String> = "email_id",
        /// `email_subject`.
        pub email_subject: Option<String> = "email_subject",
        /// `campaign_id`.
        pub campaign_id: Option<String> = "campaign_id",
        /// `campaign_name`.
        pub campaign_name: Option<String> = "campaign_name",
    }
}

props! {
    /// Email Delivered.
    pub struct EmailDelivered {
        /// `email_id`.
        pub email_id: Option<String> = "email_id",
        /// `email_subject`.
        pub email_subject: Option<String> = "email_subject",
        /// `campaign_id`.
        pub campaign_id: Option<String> = "campaign_id",
        /// `campaign_name`.
        pub campaign_name: Option<String> = "campaign_name",
    }
}

props! {
    /// Email Link Clicked.
    pub struct EmailLinkClicked {
        /// `email_id`.
        pub email_id: Option<String> = "email_id",
        /// `email_subject`.
        pub email_subject: Option<String> = "email_subject",
        /// `campaign_id`.
        pub campaign_id: Option<String> = "campaign_id",
        /// `campaign_name`.
        pub campaign_name: Option<String> = "campaign_name",
        /// `link_id`.
        pub link_id: Option<String> = "link_id",
        /// `link_url`: where the link goes.
        pub link_url: Option<String> = "link_url",
    }
}

props! {
    /// Email Marked as Spam.
    pub struct EmailMarkedAsSpam {
        /// `email_id`.
        pub email_id: Option<String> = "email_id",
        /// `email_subject`.
        pub email_subject: Option<String> = "email_subject",
        /// `campaign_id`.
        pub campaign_id: Option<String> = "campaign_id",
        /// `campaign_name`.
        pub campaign_name: Option<String> = "campaign_name",
    }
}

props! {
    /// Email Opened.
    pub struct EmailOpened {
        /// `email_id`.
        pub email_id: Option<String> = "email_id",
        /// `email_subject`.
        pub email_subject: Option<String> = "email_subject",
        /// `campaign_id`.
        pub campaign_id: Option<String> = "campaign_id",
        /// `campaign_name`.
        pub campaign_name: Option<String> = "campaign_name",
    }
}

props! {
    /// Unsubscribed.
    pub struct Unsubscribed {
        /// `email_id`.
        pub email_id: Option<String> = "email_id",
        /// `email_subject`.
        pub email_subject: Option<String> = "email_subject",
        /// `campaign_id`.
        pub campaign_id: Option<String> = "campaign_id",
        /// `campaign_name`.
        pub campaign_name: Option<String> = "campaign_name",
        /// `list_id`: the mailing list left.
        pub list_id: Option<String> = "list_id",
        /// `list_name`.
        pub list_name: Option<String> = "list_name",
    }
}
