//! What the bots face stores: bots (the seed's schema), and the built-in chat store — users, channels,
//! messages, files — plus response URLs and open modals. All are documents.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::store::{impl_doc, Doc, DocKind, Millis};

pub const EVENT_TYPES: &[&str] = &[
    "message.sent",
    "message.edited",
    "message.deleted",
    "message.reaction",
    "member.joined",
    "member.left",
    "channel.created",
    "channel.updated",
    "slash_command",
    "interactive.action",
];

/// The seed's scopes; `channels:history` is what its endpoint table asks for `channels.history`.
pub const SCOPES: &[&str] = &[
    "messages:read",
    "messages:write",
    "messages:history",
    "channels:read",
    "channels:write",
    "channels:manage",
    "channels:history",
    "users:read",
    "reactions:write",
    "files:read",
    "files:write",
    "slash_commands",
    "interactive",
];

/// The seed's rate-limit tiers.
pub const TIERS: &[&str] = &["free", "standard", "enterprise"];

/// Who may own a bot.
pub const OWNER_TYPES: &[&str] = &["user", "team", "organization"];

/// `sha256:<hex>`, as the seed's schema stores tokens and secrets.
pub fn hash(secret: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(secret.as_bytes())))
}

/// Constant-time comparison of two hashes.
pub fn same_hash(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The seed's tiers: (messages, API calls, webhooks) per minute.
pub fn tier_limits(tier: &str) -> (u32, u32, u32) {
    match tier {
        "free" => (60, 100, 30),
        "enterprise" => (1000, 2000, 500),
        _ => (300, 500, 100),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlashOption {
    pub name: String,
    #[serde(rename = "type", default = "string_type")]
    pub kind: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn string_type() -> String {
    "string".into()
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlashCommand {
    pub command: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<String>,
    #[serde(default)]
    pub options: Vec<SlashOption>,
    /// Empty: every channel the bot is installed in.
    #[serde(default)]
    pub channels: Vec<String>,
}

impl SlashCommand {
    pub fn usage(&self) -> String {
        self.usage.clone().unwrap_or_else(|| {
            let args: Vec<String> = self
                .options
                .iter()
                .map(|o| if o.required { format!("<{}>", o.name) } else { format!("[{}]", o.name) })
                .collect();
            format!("/{} {}", self.command, args.join(" ")).trim_end().to_string()
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Install {
    pub channel_id: String,
    /// Empty: the bot's scopes apply as they are.
    #[serde(default)]
    pub permissions: Vec<String>,
    pub installed_at: Millis,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bot {
    pub id: String,
    pub org_id: String,
    /// The engine application its webhooks are delivered through (uid: the bot id).
    pub app_id: String,
    pub endpoint_id: Option<String>,
    pub name: String,
    pub description: String,
    pub icon_url: Option<String>,
    pub owner_id: Option<String>,
    pub owner_type: String,
    pub bot_user_id: String,
    pub bot_token_hash: String,
    /// The token before the last rotation, valid until `previous_token_valid_until`.
    pub previous_token_hash: Option<String>,
    pub previous_token_valid_until: Option<Millis>,
    pub webhook_secret_hash: String,
    pub incoming_webhook_token: String,
    pub scopes: Vec<String>,
    pub webhook_url: Option<String>,
    pub webhook_events: Vec<String>,
    pub slash_commands: Vec<SlashCommand>,
    pub tier: String,
    /// `active`, `disabled` or `suspended`.
    pub status: String,
    pub installed_channels: Vec<Install>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl_doc!(Bot, DocKind::Bot, parent: none, id: id, uid: none);

impl Bot {
    pub fn install(&self, channel_id: &str) -> Option<&Install> {
        self.installed_channels.iter().find(|i| i.channel_id == channel_id)
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        let alias = match scope {
            "channels:history" => "messages:history",
            "messages:history" => "channels:history",
            _ => scope,
        };
        self.scopes.iter().any(|s| s == scope || s == alias)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatUser {
    pub id: String,
    pub org_id: String,
    pub username: String,
    pub display_name: String,
    pub is_bot: bool,
    pub bot_id: Option<String>,
    pub token_hash: Option<String>,
    pub created_at: Millis,
}

impl_doc!(ChatUser, DocKind::ChatUser, parent: none, id: id, uid: [username]);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Channel {
    pub id: String,
    pub org_id: String,
    pub name: String,
    /// `public` or `private`.
    pub kind: String,
    pub topic: String,
    pub members: Vec<String>,
    pub created_at: Millis,
}

impl_doc!(Channel, DocKind::Channel, parent: none, id: id, uid: [name]);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reaction {
    pub reaction: String,
    pub users: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatMessage {
    pub id: String,
    pub org_id: String,
    pub channel_id: String,
    pub user_id: String,
    pub text: String,
    pub attachments: Vec<Value>,
    pub thread_id: Option<String>,
    /// `in_channel`, or `ephemeral` (then only `ephemeral_to` sees it).
    pub response_type: String,
    pub ephemeral_to: Option<String>,
    /// The name and icon an incoming webhook asked to show.
    pub username: Option<String>,
    pub icon_emoji: Option<String>,
    pub reactions: Vec<Reaction>,
    pub deleted: bool,
    pub edited_at: Option<Millis>,
    pub created_at: Millis,
}

impl_doc!(ChatMessage, DocKind::ChatMessage, parent: channel_id, id: id, uid: none);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatFile {
    pub id: String,
    pub org_id: String,
    pub channel_id: Option<String>,
    pub user_id: String,
    pub name: String,
    pub title: Option<String>,
    pub mimetype: String,
    pub size: usize,
    /// Base64 of the bytes.
    pub content: String,
    pub created_at: Millis,
}

impl_doc!(ChatFile, DocKind::ChatFile, parent: none, id: id, uid: none);

/// A `response_url`: where a bot answers a command or an action later. The id is the hash of the URL's token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResponseUrl {
    pub id: String,
    pub org_id: String,
    pub bot_id: String,
    pub channel_id: String,
    /// Who invoked the command or clicked: ephemeral answers are for them.
    pub user_id: String,
    /// The message `replace_original` changes: the one clicked on, or the last answer to the command.
    pub message_id: Option<String>,
    pub uses: u32,
    pub expires_at: Millis,
    pub created_at: Millis,
}

impl_doc!(ResponseUrl, DocKind::ResponseUrl, parent: none, id: id, uid: none);

/// A modal a bot opened for a user, until the user submits it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatView {
    pub id: String,
    pub org_id: String,
    pub user_id: String,
    pub bot_id: String,
    pub channel_id: String,
    pub modal: Value,
    pub created_at: Millis,
}

impl_doc!(ChatView, DocKind::ChatView, parent: user_id, id: id, uid: none);
