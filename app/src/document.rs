//! A document written once and rendered as HTML (the web UI's pages) or Markdown (the API's
//! `/api/v2/documents/*`), so that a page and its API twin say the same thing.

/// A run of text: plain, or code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Span {
    Text(String),
    Code(String),
}

/// Text made of spans: `text!["kept ", duration, " more"]` reads as one sentence.
pub type Inline = Vec<Span>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// The opening paragraph.
    Lead(Inline),
    Paragraph(Inline),
    /// A heading (of the second level), with an anchor.
    Heading(String, Option<&'static str>),
    /// A bulleted list; each item may carry an anchor.
    List(Vec<(Option<&'static str>, Inline)>),
    /// A closing note, in smaller print on a page.
    Hint(Inline),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document {
    pub blocks: Vec<Block>,
}

/// Plain text, as a span.
pub fn text(text: impl Into<String>) -> Span {
    Span::Text(text.into())
}

/// Code, as a span.
pub fn code(code: impl Into<String>) -> Span {
    Span::Code(code.into())
}

fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

fn escape_markdown(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '*' | '_' | '[' | ']' | '<' | '>' | '`' | '#') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

fn inline_html(spans: &Inline) -> String {
    spans
        .iter()
        .map(|span| match span {
            Span::Text(t) => escape_html(t),
            Span::Code(c) => format!("<code>{}</code>", escape_html(c)),
        })
        .collect()
}

fn inline_markdown(spans: &Inline) -> String {
    spans
        .iter()
        .map(|span| match span {
            Span::Text(t) => escape_markdown(t),
            Span::Code(c) => format!("`{c}`"),
        })
        .collect()
}

fn anchor(id: &Option<&'static str>) -> String {
    id.map(|id| format!(" id=\"{id}\"")).unwrap_or_default()
}

impl Document {
    pub fn to_html(&self) -> String {
        let mut html = String::new();
        for block in &self.blocks {
            match block {
                Block::Lead(spans) => {
                    html += &format!("<p class=\"lead\">{}</p>\n", inline_html(spans))
                }
                Block::Paragraph(spans) => html += &format!("<p>{}</p>\n", inline_html(spans)),
                Block::Hint(spans) => {
                    html += &format!("<p class=\"hint\">{}</p>\n", inline_html(spans))
                }
                Block::Heading(title, id) => {
                    html += &format!("<h2{}>{}</h2>\n", anchor(id), escape_html(title))
                }
                Block::List(items) => {
                    html += "<ul>\n";
                    for (id, spans) in items {
                        html += &format!("<li{}>{}</li>\n", anchor(id), inline_html(spans));
                    }
                    html += "</ul>\n";
                }
            }
        }
        html
    }

    pub fn to_markdown(&self) -> String {
        let mut blocks = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            blocks.push(match block {
                Block::Lead(spans) | Block::Paragraph(spans) | Block::Hint(spans) => {
                    inline_markdown(spans)
                }
                Block::Heading(title, _) => format!("## {}", escape_markdown(title)),
                Block::List(items) => items
                    .iter()
                    .map(|(_, spans)| format!("- {}", inline_markdown(spans)))
                    .collect::<Vec<_>>()
                    .join("\n"),
            });
        }
        blocks.join("\n\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Document {
        Document {
            blocks: vec![
                Block::Lead(vec![text("Keys & <names>")]),
                Block::Heading("What *is* kept".into(), Some("kept")),
                Block::List(vec![
                    (Some("hash"), vec![text("a hash of "), code("apikey")]),
                    (None, vec![text("nothing_else")]),
                ]),
            ],
        }
    }

    #[test]
    fn html_escapes_text_and_keeps_anchors() {
        assert_eq!(
            sample().to_html(),
            "<p class=\"lead\">Keys &amp; &lt;names&gt;</p>\n\
             <h2 id=\"kept\">What *is* kept</h2>\n\
             <ul>\n<li id=\"hash\">a hash of <code>apikey</code></li>\n\
             <li>nothing_else</li>\n</ul>\n"
        );
    }

    #[test]
    fn markdown_escapes_what_markdown_reads() {
        assert_eq!(
            sample().to_markdown(),
            "Keys & \\<names\\>\n\n## What \\*is\\* kept\n\n- a hash of `apikey`\n- nothing\\_else"
        );
    }
}
