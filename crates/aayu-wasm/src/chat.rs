//! Qwen's ChatML chat template: `<|im_start|>role\ncontent<|im_end|>\n` per message, then an
//! open assistant turn.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::tokenizer::{GgufTokenizer, IM_END, IM_START};

/// Qwen2.5's default system prompt, used by its template when the conversation has none.
pub const DEFAULT_SYSTEM_PROMPT: &str =
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

/// The roles of a chat, as the app's prompt builder names them.
pub use thrive_domain::assistant::Role;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

impl From<&thrive_domain::assistant::Message> for ChatMessage {
    fn from(m: &thrive_domain::assistant::Message) -> Self {
        ChatMessage::new(m.role, m.content.clone())
    }
}

/// Messages with the default system prompt in front when there is no system message.
fn with_system(messages: &[ChatMessage]) -> Vec<ChatMessage> {
    let mut all = Vec::with_capacity(messages.len() + 1);
    if messages.first().map(|m| m.role) != Some(Role::System) {
        all.push(ChatMessage::new(Role::System, DEFAULT_SYSTEM_PROMPT));
    }
    all.extend_from_slice(messages);
    all
}

/// The prompt as text, exactly as Qwen's template renders it.
pub fn render(messages: &[ChatMessage]) -> String {
    let mut out = String::new();
    for m in with_system(messages) {
        out.push_str(&format!(
            "{IM_START}{}\n{}{IM_END}\n",
            m.role.key(),
            m.content
        ));
    }
    out.push_str(IM_START);
    out.push_str("assistant\n");
    out
}

/// The prompt as token ids. Control tokens come from the template only: text a clinician
/// typed is tokenized with special-token parsing off, so typing `<|im_start|>` cannot forge a
/// turn. For ordinary text the ids equal those of tokenizing [`render`]'s output.
pub fn encode(tokenizer: &mut GgufTokenizer, messages: &[ChatMessage]) -> Result<Vec<u32>> {
    let mut ids = Vec::new();
    for m in with_system(messages) {
        ids.push(tokenizer.im_start);
        ids.extend(tokenizer.encode(&format!("{}\n{}", m.role.key(), m.content), false)?);
        ids.push(tokenizer.im_end);
        ids.extend(tokenizer.encode("\n", false)?);
    }
    ids.push(tokenizer.im_start);
    ids.extend(tokenizer.encode("assistant\n", false)?);
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_adds_the_default_system_prompt_and_opens_the_assistant_turn() {
        let text = render(&[ChatMessage::new(Role::User, "Summarise the fall.")]);
        assert_eq!(
            text,
            format!(
                "<|im_start|>system\n{DEFAULT_SYSTEM_PROMPT}<|im_end|>\n\
                 <|im_start|>user\nSummarise the fall.<|im_end|>\n<|im_start|>assistant\n"
            )
        );
    }

    #[test]
    fn the_apps_prompts_render_here_exactly_as_the_domain_renders_them() {
        use thrive_domain::assistant::{messages, render_chatml, CareContext, Task};
        let ctx = CareContext {
            person: "Margaret".into(),
            category: thrive_domain::records::NoteCategory::Mobility,
            occurred_at: "2026-12-02T14:30".into(),
            author_name: "Sam Carter".into(),
            author_role: "Carer".into(),
            today: "2026-12-02".into(),
            notes: vec![],
        };
        for task in Task::ALL {
            let m = messages(task, &ctx, "found on floor 14:10");
            let chat: Vec<ChatMessage> = m.iter().map(ChatMessage::from).collect();
            assert_eq!(render(&chat), render_chatml(&m), "{task:?}");
        }
    }

    #[test]
    fn render_keeps_a_given_system_prompt() {
        let text = render(&[
            ChatMessage::new(Role::System, "Be brief."),
            ChatMessage::new(Role::User, "Hi"),
        ]);
        assert!(text.starts_with("<|im_start|>system\nBe brief.<|im_end|>\n"));
        assert!(!text.contains(DEFAULT_SYSTEM_PROMPT));
    }
}
