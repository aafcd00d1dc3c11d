//! The reward script out of an LLM's reply.
//!
//! Chat models wrap code in prose and markdown: one or several fenced blocks (```` ```rhai ````,
//! ```` ```rust ````, a bare ```` ``` ````, `~~~`), sometimes no fence at all, sometimes a block
//! cut off by the token limit. [`extract_script`] picks the code that defines `compute_reward`:
//!
//! 1. Fenced blocks are read as CommonMark does: a fence is 3 or more backticks or tildes indented
//!    by at most 3 spaces, closed by a run of the same character at least as long; a block never
//!    closed runs to the end of the reply.
//! 2. Among the blocks that define `compute_reward`, the last one tagged `rhai` wins, else the
//!    last one whatever its tag: models that correct themselves put the correction last. Helpers
//!    defined in other blocks are not merged in: a model that splits its script over several
//!    blocks gets a "function not found" error from the sandbox and is told to answer with one.
//! 3. With no fenced definition, unfenced code is taken: from the first line that starts a `fn`
//!    through the end of the first `compute_reward` body; the prose after it is dropped.
//! 4. Code whose `compute_reward` body never closes is reported as [`ExtractError::Truncated`].
//!
//! Definitions and braces are looked for in code only: comments, strings and character literals
//! are blanked out first, so `// fn compute_reward(s)` or `"{"` do not count.

use rewardsmith_script::REWARD_FN;

/// Why no script could be extracted (fed back to the LLM as the candidate's failure, so each
/// message says what to do next).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// The reply is empty or whitespace.
    #[error("the reply is empty")]
    Empty,
    /// No code defines `compute_reward`, neither in a fenced block nor unfenced.
    #[error(
        "no code in the reply defines `fn compute_reward(s)` ({}); answer with one ```rhai code block \
         that defines it",
        blocks_seen(.blocks)
    )]
    NoRewardFunction {
        /// How many fenced code blocks the reply has (none of them defines it).
        blocks: usize,
    },
    /// The code defining `compute_reward` is cut off (its body, or the unclosed code block holding
    /// it, ends with braces still open): the reply was probably truncated by the token limit.
    #[error("{}", truncation_message(.open_braces, .unclosed_fence))]
    Truncated {
        /// How many `{` are still open where the code ends (0: `compute_reward` has no body yet).
        open_braces: usize,
        /// The code is in a fenced block that has no closing fence.
        unclosed_fence: bool,
    },
    /// The server stopped the reply at the completion cap (`finish_reason: "length"`) before it
    /// held a complete `compute_reward` (still reasoning, or in prose with no code yet).
    #[error(
        "the reply was truncated at the completion cap{} before it held a complete `compute_reward`: answer \
         with less reasoning and a shorter script (or raise --max-completion-tokens)",
        cap_text(.cap)
    )]
    CutAtCap {
        /// The cap, in tokens, when one was sent.
        cap: Option<u32>,
    },
}

fn cap_text(cap: &Option<u32>) -> String {
    cap.map(|cap| format!(" of {cap} tokens")).unwrap_or_default()
}

impl From<ExtractError> for rewardsmith_propose::CandidateError {
    fn from(e: ExtractError) -> Self {
        Self::Extract(e.to_string())
    }
}

fn blocks_seen(blocks: &usize) -> String {
    match blocks {
        0 => "it has no fenced code block".to_owned(),
        1 => "1 fenced code block seen".to_owned(),
        n => format!("{n} fenced code blocks seen"),
    }
}

fn truncation_message(open_braces: &usize, unclosed_fence: &bool) -> String {
    let braces = match open_braces {
        0 => "its body never starts".to_owned(),
        1 => "1 `{` is never closed".to_owned(),
        n => format!("{n} `{{` are never closed"),
    };
    let fence = if *unclosed_fence { ", and its code block has no closing fence" } else { "" };
    format!(
        "the code defining `compute_reward` is cut off ({braces}{fence}): the reply was probably truncated \
         by the token limit; answer with a shorter script"
    )
}

/// How the script was found (recorded with the candidate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A fenced code block, possibly without its closing fence.
    FencedBlock {
        /// Position of the block among all the fenced blocks of the reply, from 0, whether or not
        /// they define `compute_reward`.
        index: usize,
        /// The block's info string is `rhai` (any case); other tags and no tag are `false`.
        tagged: bool,
    },
    /// Code outside any fence (the reply is only code, or code among prose).
    Unfenced,
}

/// The extracted script and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Extracted {
    /// The script: LF line ends, no leading blank lines, exactly one final newline.
    pub script: String,
    /// Where in the reply it was found.
    pub source: Source,
}

/// Extracts the reward script from a reply: the fenced block that defines `compute_reward` (the
/// last one, `rhai`-tagged ones first), else unfenced code that defines it (see the module
/// documentation for the rules).
pub fn extract_script(reply: &str) -> Result<Extracted, ExtractError> {
    // Normalised first so that every offset below is into one text with `\n` line ends.
    let text = reply.strip_prefix('\u{feff}').unwrap_or(reply).replace("\r\n", "\n");
    if text.trim().is_empty() {
        return Err(ExtractError::Empty);
    }
    let markdown = Markdown::parse(&text);
    let defining: Vec<usize> = (0..markdown.blocks.len()).filter(|&i| definition(&mask(&markdown.blocks[i].content)).is_some()).collect();
    let chosen = defining.iter().rev().find(|&&i| markdown.blocks[i].tagged).or(defining.last());
    if let Some(&index) = chosen {
        let block = &markdown.blocks[index];
        let script = block_script(block)?;
        return Ok(Extracted { script: tidy(script), source: Source::FencedBlock { index, tagged: block.tagged } });
    }
    for segment in &markdown.outside {
        if let Some(script) = unfenced_script(segment) {
            return Ok(Extracted { script: tidy(script?), source: Source::Unfenced });
        }
    }
    Err(ExtractError::NoRewardFunction { blocks: markdown.blocks.len() })
}

/// A fenced code block.
struct Block {
    /// The lines between the fences, with the fence's indentation removed as CommonMark does.
    content: String,
    /// The info string's first word is `rhai`.
    tagged: bool,
    /// A closing fence was found (otherwise the block runs to the end of the reply).
    closed: bool,
}

/// A reply split into fenced blocks and the text around them.
struct Markdown<'a> {
    blocks: Vec<Block>,
    /// The runs of lines outside any fence, in order.
    outside: Vec<&'a str>,
}

/// An opening fence: its character, its length and its indentation.
struct Fence {
    mark: char,
    len: usize,
    indent: usize,
}

impl<'a> Markdown<'a> {
    fn parse(text: &'a str) -> Self {
        let mut blocks = Vec::new();
        let mut outside = Vec::new();
        let mut lines = text.split_inclusive('\n');
        let mut offset = 0;
        let mut outside_start = 0;
        while let Some(line) = lines.next() {
            let line_start = offset;
            offset += line.len();
            let Some((fence, tagged)) = opening_fence(line) else { continue };
            outside.push(&text[outside_start..line_start]);
            let mut content = String::new();
            let mut closed = false;
            for line in lines.by_ref() {
                offset += line.len();
                if closes(line, &fence) {
                    closed = true;
                    break;
                }
                content.push_str(strip_indent(line, fence.indent));
            }
            blocks.push(Block { content, tagged, closed });
            outside_start = offset;
        }
        outside.push(&text[outside_start..]);
        outside.retain(|segment| !segment.trim().is_empty());
        Self { blocks, outside }
    }
}

/// The fence that `line` opens, if any, and whether its info string says `rhai`.
fn opening_fence(line: &str) -> Option<(Fence, bool)> {
    let line = line.trim_end();
    let rest = line.trim_start_matches(' ');
    let indent = line.len() - rest.len();
    let mark = rest.chars().next().filter(|&c| c == '`' || c == '~')?;
    let info = rest.trim_start_matches(mark);
    let len = rest.len() - info.len();
    // A backtick in the info string makes the line inline code (```x```), not a fence.
    if indent > 3 || len < 3 || (mark == '`' && info.contains('`')) {
        return None;
    }
    let tagged = info.split_whitespace().next().is_some_and(|word| word.eq_ignore_ascii_case("rhai"));
    Some((Fence { mark, len, indent }, tagged))
}

/// `line` closes `fence`: the same character, at least as many, nothing after but spaces.
fn closes(line: &str, fence: &Fence) -> bool {
    let line = line.trim_end();
    let rest = line.trim_start_matches(' ');
    let run = rest.trim_start_matches(fence.mark);
    line.len() - rest.len() <= 3 && run.is_empty() && rest.len() >= fence.len
}

/// `line` without up to `indent` leading spaces.
fn strip_indent(line: &str, indent: usize) -> &str {
    let spaces = line.bytes().take(indent).take_while(|&b| b == b' ').count();
    &line[spaces..]
}

/// The script of the chosen block, or why it is cut off.
fn block_script(block: &Block) -> Result<&str, ExtractError> {
    let code = &block.content;
    let masked = mask(code);
    let start = definition(&masked).expect("the chosen block defines compute_reward");
    let body_end = body_end(&masked, start).map_err(|open_braces| ExtractError::Truncated { open_braces, unclosed_fence: !block.closed })?;
    if block.closed {
        return Ok(code);
    }
    // Without a closing fence the block runs to the end of the reply: a helper after
    // `compute_reward` may be the part cut off, and prose after a forgotten fence must go.
    let open_braces = brace_depth(0, &masked);
    if open_braces > 0 {
        return Err(ExtractError::Truncated { open_braces, unclosed_fence: true });
    }
    Ok(&code[..last_item_end(&masked).max(body_end)])
}

/// The unfenced script of `segment` (text outside any fence): `None` if it defines no
/// `compute_reward`, an error if its body never closes.
fn unfenced_script(segment: &str) -> Option<Result<&str, ExtractError>> {
    // Code starts at the first line that starts a function, so helpers before `compute_reward`
    // are kept; anything before it is prose (a top-level `const` there would be dropped, but
    // functions cannot see top-level variables in the sandbox anyway).
    let mut offset = 0;
    let start = segment.split_inclusive('\n').find_map(|line| {
        let line_start = offset;
        offset += line.len();
        let code = line.trim_start();
        let code = code.strip_prefix("private").filter(|rest| rest.starts_with(char::is_whitespace)).unwrap_or(code);
        code.trim_start().strip_prefix("fn").is_some_and(|rest| rest.starts_with(char::is_whitespace)).then_some(line_start)
    })?;
    let code = &segment[start..];
    let masked = mask(code);
    let definition = definition(&masked)?;
    let end = match body_end(&masked, definition) {
        Ok(end) => end,
        Err(open_braces) => return Some(Err(ExtractError::Truncated { open_braces, unclosed_fence: false })),
    };
    // Whatever follows the closing brace on its line is kept if it is only a comment or `;`.
    let line_end = masked[end..].find('\n').map_or(masked.len(), |i| end + i);
    let end = if matches!(masked[end..line_end].trim(), "" | ";") { line_end } else { end };
    Some(Ok(&code[..end]))
}

/// Offset of the `fn` keyword of the first `compute_reward` definition in `masked` code.
fn definition(masked: &str) -> Option<usize> {
    masked.match_indices("fn").map(|(i, _)| i).find(|&i| {
        let keyword_alone = !masked[..i].ends_with(is_identifier_char);
        let after = &masked[i + 2..];
        let name = after.trim_start();
        keyword_alone && name.len() < after.len() && name.strip_prefix(REWARD_FN).is_some_and(|rest| rest.trim_start().starts_with('('))
    })
}

fn is_identifier_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Offset just past the `}` that closes the body of the function whose `fn` is at `start` in
/// `masked` code, or the number of `{` still open at the end if it never closes.
fn body_end(masked: &str, start: usize) -> Result<usize, usize> {
    let open = masked[start..].find('{').ok_or(0usize)? + start;
    let mut depth = 0usize;
    for (i, c) in masked[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(open + i + 1);
                }
            }
            _ => {}
        }
    }
    Err(depth)
}

/// How many `{` are open after `masked` code, starting with `depth` open (a stray `}` closes
/// nothing, so that one extra brace does not hide a later unclosed one).
fn brace_depth(depth: usize, masked: &str) -> usize {
    masked.chars().fold(depth, |depth, c| match c {
        '{' => depth + 1,
        '}' => depth.saturating_sub(1),
        _ => depth,
    })
}

/// Offset of the end of the last line of `masked` code that ends a top-level item (a `}` or `;`
/// at depth 0), where the code stops and trailing prose begins; 0 if there is none.
fn last_item_end(masked: &str) -> usize {
    let (mut depth, mut offset, mut end) = (0usize, 0, 0);
    for line in masked.split_inclusive('\n') {
        depth = brace_depth(depth, line);
        offset += line.len();
        if depth == 0 && line.trim_end().ends_with(['}', ';']) {
            end = offset;
        }
    }
    end
}

/// Lexer states of [`mask`].
#[derive(Clone, Copy, PartialEq)]
enum Lexer {
    Code,
    LineComment,
    /// Rhai block comments nest: the depth.
    BlockComment(usize),
    /// `"..."`: escapes, ends at the line end (Rhai allows no raw newline in it).
    Quoted,
    /// `` `...` ``: no escapes, may span lines.
    Backticked,
}

/// `code` with comments, strings and character literals replaced by spaces, byte for byte (line
/// ends kept), so that offsets into the result are offsets into `code` and what remains visible
/// is what the Rhai parser would see as code.
fn mask(code: &str) -> String {
    let mut masked = String::with_capacity(code.len());
    let mut state = Lexer::Code;
    let mut i = 0;
    while let Some(c) = code[i..].chars().next() {
        let rest = &code[i..];
        let (len, next, visible) = match state {
            Lexer::Code if rest.starts_with("//") => (2, Lexer::LineComment, false),
            Lexer::Code if rest.starts_with("/*") => (2, Lexer::BlockComment(1), false),
            Lexer::Code if c == '"' => (1, Lexer::Quoted, false),
            Lexer::Code if c == '`' => (1, Lexer::Backticked, false),
            Lexer::Code => match char_literal_len(rest) {
                Some(len) => (len, Lexer::Code, false),
                None => (c.len_utf8(), Lexer::Code, true),
            },
            Lexer::LineComment if c == '\n' => (1, Lexer::Code, true),
            Lexer::BlockComment(depth) if rest.starts_with("/*") => (2, Lexer::BlockComment(depth + 1), false),
            Lexer::BlockComment(1) if rest.starts_with("*/") => (2, Lexer::Code, false),
            Lexer::BlockComment(depth) if rest.starts_with("*/") => (2, Lexer::BlockComment(depth - 1), false),
            Lexer::Quoted if c == '\\' => (1 + rest[1..].chars().next().map_or(0, char::len_utf8), state, false),
            Lexer::Quoted if c == '"' => (1, Lexer::Code, false),
            Lexer::Quoted if c == '\n' => (1, Lexer::Code, true),
            Lexer::Backticked if c == '`' => (1, Lexer::Code, false),
            _ => (c.len_utf8(), state, false),
        };
        let span = &rest[..len];
        if visible {
            masked.push_str(span);
        } else {
            // Line ends stay so that line-based scans still see the same lines.
            masked.extend(span.chars().flat_map(|c| {
                let blank = if c == '\n' { '\n' } else { ' ' };
                std::iter::repeat_n(blank, c.len_utf8())
            }));
        }
        state = next;
        i += len;
    }
    masked
}

/// Length of the character literal (`'{'`, `'\n'`, `'\u{7b}'`) at the start of `rest`, if there
/// is one; a lone apostrophe is left as code.
fn char_literal_len(rest: &str) -> Option<usize> {
    let inner = rest.strip_prefix('\'')?;
    let len = if inner.starts_with('\\') {
        // Past the escaped character (it may be a quote); the longest escape is `\u{10FFFF}`.
        inner.char_indices().take(11).skip(2).find(|&(_, c)| c == '\'' || c == '\n').filter(|&(_, c)| c == '\'')?.0
    } else {
        let c = inner.chars().next().filter(|&c| c != '\'' && c != '\n')?;
        inner[c.len_utf8()..].starts_with('\'').then_some(c.len_utf8())?
    };
    Some(1 + len + 1)
}

/// The script as stored: no leading blank lines, no trailing whitespace, one final newline.
fn tidy(script: &str) -> String {
    let first_line = script.find(|c: char| !c.is_whitespace()).map_or(0, |i| script[..i].rfind('\n').map_or(0, |n| n + 1));
    let mut tidy = script[first_line..].trim_end().to_owned();
    tidy.push('\n');
    tidy
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = "fn compute_reward(s) {\n    #{ height: s.height }\n}\n";

    fn fenced(index: usize, tagged: bool) -> Source {
        Source::FencedBlock { index, tagged }
    }

    #[test]
    fn extracts_the_rhai_block_among_prose() {
        let reply = format!("Here is a reward that favours height:\n\n```rhai\n{SCRIPT}```\n\nIt is dense.\n");
        let extracted = extract_script(&reply).unwrap();
        assert_eq!(extracted, Extracted { script: SCRIPT.to_owned(), source: fenced(0, true) });
    }

    #[test]
    fn skips_an_explanation_block_that_defines_no_reward() {
        let reply = format!("The terms:\n```text\nheight: s.height {{ rewarded }}\n```\nThe script:\n```rhai\n{SCRIPT}```\n");
        let extracted = extract_script(&reply).unwrap();
        assert_eq!(extracted, Extracted { script: SCRIPT.to_owned(), source: fenced(1, true) });
    }

    #[test]
    fn takes_the_last_of_two_rhai_blocks_as_the_correction() {
        let first = "fn compute_reward(s) {\n    s.height\n}\n";
        let reply = format!("```rhai\n{first}```\nOops, it should be a map:\n```rhai\n{SCRIPT}```\n");
        let extracted = extract_script(&reply).unwrap();
        assert_eq!(extracted, Extracted { script: SCRIPT.to_owned(), source: fenced(1, true) });
    }

    #[test]
    fn prefers_a_rhai_block_over_a_later_untagged_one() {
        let other = "fn compute_reward(s) {\n    s.speed\n}\n";
        let reply = format!("```rhai\n{SCRIPT}```\nIn Rust this would be:\n```\n{other}```\n```rust\n{other}```\n");
        let extracted = extract_script(&reply).unwrap();
        assert_eq!(extracted, Extracted { script: SCRIPT.to_owned(), source: fenced(0, true) });
    }

    #[test]
    fn rhai_tag_is_case_insensitive_and_may_have_attributes() {
        let reply = format!("```  Rhai title=\"reward\"\n{SCRIPT}```\n");
        assert_eq!(extract_script(&reply).unwrap().source, fenced(0, true));
    }

    #[test]
    fn takes_a_block_without_language_tag() {
        let reply = format!("Try this:\n```\n{SCRIPT}```\n");
        let extracted = extract_script(&reply).unwrap();
        assert_eq!(extracted, Extracted { script: SCRIPT.to_owned(), source: fenced(0, false) });
    }

    #[test]
    fn takes_the_last_defining_block_when_none_is_tagged_rhai() {
        let first = "fn compute_reward(s) {\n    s.height\n}\n";
        let reply = format!("```js\n{first}```\n```rust\n{SCRIPT}```\n");
        let extracted = extract_script(&reply).unwrap();
        assert_eq!(extracted, Extracted { script: SCRIPT.to_owned(), source: fenced(1, false) });
    }

    #[test]
    fn takes_a_tilde_fenced_block() {
        let reply = format!("~~~rhai\n{SCRIPT}~~~\n");
        let extracted = extract_script(&reply).unwrap();
        assert_eq!(extracted, Extracted { script: SCRIPT.to_owned(), source: fenced(0, true) });
    }

    #[test]
    fn closing_fence_must_match_the_opening_char_and_length() {
        // The ``` and ~~~ lines are part of the script (inside a comment), not its end.
        let script = "fn compute_reward(s) {\n/*\n```\n~~~\n*/\n    s.height\n}\n";
        let reply = format!("~~~~ rhai\n{script}~~~~~\nDone.\n");
        let extracted = extract_script(&reply).unwrap();
        assert_eq!(extracted, Extracted { script: script.to_owned(), source: fenced(0, true) });
    }

    #[test]
    fn fences_indented_up_to_three_spaces_count_and_are_dedented() {
        let reply = "1. The script:\n   ```rhai\n   fn compute_reward(s) {\n       #{ height: s.height }\n   }\n   ```\n";
        let extracted = extract_script(reply).unwrap();
        assert_eq!(extracted, Extracted { script: SCRIPT.to_owned(), source: fenced(0, true) });
    }

    #[test]
    fn fences_indented_four_spaces_are_not_fences() {
        let reply = "    ```rhai\nfn compute_reward(s) {\n    #{ height: s.height }\n}\n    ```\n";
        let extracted = extract_script(reply).unwrap();
        assert_eq!(extracted, Extracted { script: SCRIPT.to_owned(), source: Source::Unfenced });
    }

    #[test]
    fn takes_a_reply_that_is_only_code() {
        let extracted = extract_script(SCRIPT).unwrap();
        assert_eq!(extracted, Extracted { script: SCRIPT.to_owned(), source: Source::Unfenced });
    }

    #[test]
    fn takes_unfenced_code_with_its_helpers_and_drops_the_prose_around_it() {
        let script = "fn clamp01(x) {\n    if x < 0.0 { 0.0 } else if x > 1.0 { 1.0 } else { x }\n}\n\n\
                      private fn compute_reward(s) {\n    #{ height: clamp01(s.height) }\n} // done\n";
        let reply = format!("Sure! Here's the reward:\n\n{script}\nThis keeps the reward in {{0, 1}}.\n");
        let extracted = extract_script(&reply).unwrap();
        assert_eq!(extracted, Extracted { script: script.to_owned(), source: Source::Unfenced });
    }

    #[test]
    fn unclosed_fence_with_a_complete_body_is_accepted() {
        let reply = format!("```rhai\n{SCRIPT}\nThe height term dominates.\n");
        let extracted = extract_script(&reply).unwrap();
        assert_eq!(extracted, Extracted { script: SCRIPT.to_owned(), source: fenced(0, true) });
    }

    #[test]
    fn unclosed_fence_keeps_helpers_after_compute_reward() {
        let script = "fn compute_reward(s) {\n    #{ height: h(s) }\n}\n\nfn h(s) {\n    s.height\n}\n";
        let extracted = extract_script(&format!("```rhai\n{script}")).unwrap();
        assert_eq!(extracted, Extracted { script: script.to_owned(), source: fenced(0, true) });
    }

    #[test]
    fn unclosed_fence_with_unbalanced_braces_is_truncated() {
        let reply = "```rhai\nfn compute_reward(s) {\n    let terms = #{\n        height: s.height,\n";
        assert_eq!(extract_script(reply), Err(ExtractError::Truncated { open_braces: 2, unclosed_fence: true }));
    }

    #[test]
    fn unclosed_fence_cut_in_a_later_helper_is_truncated() {
        let reply = "```rhai\nfn compute_reward(s) {\n    h(s)\n}\nfn h(s) {\n    if s.height > 1.0 {";
        assert_eq!(extract_script(reply), Err(ExtractError::Truncated { open_braces: 2, unclosed_fence: true }));
    }

    #[test]
    fn closed_block_whose_body_never_closes_is_truncated() {
        let reply = "```rhai\nfn compute_reward(s) {\n    s.height\n```\n";
        assert_eq!(extract_script(reply), Err(ExtractError::Truncated { open_braces: 1, unclosed_fence: false }));
    }

    #[test]
    fn unfenced_code_whose_body_never_closes_is_truncated() {
        let reply = "Here you go:\nfn compute_reward(s) {\n    #{ height: s.";
        assert_eq!(extract_script(reply), Err(ExtractError::Truncated { open_braces: 2, unclosed_fence: false }));
    }

    #[test]
    fn definition_without_a_body_is_truncated() {
        let reply = "```rhai\nfn compute_reward(s)";
        assert_eq!(extract_script(reply), Err(ExtractError::Truncated { open_braces: 0, unclosed_fence: true }));
    }

    #[test]
    fn prose_only_has_no_reward_function_and_no_block() {
        let reply = "I would reward height and penalise energy, e.g. `fn compute_reward(s)` returning a map.";
        assert_eq!(extract_script(reply), Err(ExtractError::NoRewardFunction { blocks: 0 }));
    }

    #[test]
    fn block_with_only_a_helper_has_no_reward_function() {
        let reply = "```rhai\nfn height_term(s) {\n    s.height\n}\n```\n";
        assert_eq!(extract_script(reply), Err(ExtractError::NoRewardFunction { blocks: 1 }));
    }

    #[test]
    fn definition_inside_a_comment_does_not_count() {
        let reply = "```rhai\n// fn compute_reward(s) { s.height }\n/* fn compute_reward(s) {} */\nfn h(s) { 1 }\n```\n";
        assert_eq!(extract_script(reply), Err(ExtractError::NoRewardFunction { blocks: 1 }));
        // ...nor does it make a later block win over the one that defines it.
        let reply = format!("```rhai\n{SCRIPT}```\n```rhai\n// fn compute_reward(s)\n```\n");
        assert_eq!(extract_script(&reply).unwrap().source, fenced(0, true));
    }

    #[test]
    fn definition_inside_a_string_does_not_count() {
        let reply = "```rhai\nfn h(s) { \"fn compute_reward(s)\" }\n```\n";
        assert_eq!(extract_script(reply), Err(ExtractError::NoRewardFunction { blocks: 1 }));
    }

    #[test]
    fn similar_names_do_not_count() {
        let reply = "```rhai\nfn compute_rewards(s) { 1 }\nfn my_fn compute_reward(s) { 1 }\n```\n";
        assert_eq!(extract_script(reply), Err(ExtractError::NoRewardFunction { blocks: 1 }));
    }

    #[test]
    fn braces_in_strings_and_comments_do_not_confuse_the_balance() {
        let script = "fn compute_reward(s) {\n    let open = \"{\\\"{\";\n    let close = '}';\n    // } closes nothing\n    \
                      /* { /* nested { */ } */\n    let t = `}}\n}`;\n    #{ height: s.height }\n}\n";
        // Unfenced, a miscount would cut the script early or call it truncated.
        let reply = format!("Code:\n{script}\nThat's all.\n");
        assert_eq!(extract_script(&reply).unwrap(), Extracted { script: script.to_owned(), source: Source::Unfenced });
        // In an unclosed fence, a miscount would call it truncated.
        let extracted = extract_script(&format!("```rhai\n{script}")).unwrap();
        assert_eq!(extracted, Extracted { script: script.to_owned(), source: fenced(0, true) });
    }

    #[test]
    fn character_literals_are_masked_and_apostrophes_are_not() {
        assert_eq!(mask(r"f('\'', '{', '\u{7d}')"), "f(    ,    ,         )");
        assert_eq!(mask("it's { fine"), "it's { fine");
    }

    #[test]
    fn crlf_line_ends_become_lf() {
        let reply = format!("Here:\r\n```rhai\r\n{}```\r\n", SCRIPT.replace('\n', "\r\n"));
        let extracted = extract_script(&reply).unwrap();
        assert_eq!(extracted, Extracted { script: SCRIPT.to_owned(), source: fenced(0, true) });
    }

    #[test]
    fn leading_bom_is_stripped() {
        let extracted = extract_script(&format!("\u{feff}{SCRIPT}")).unwrap();
        assert_eq!(extracted.script, SCRIPT);
    }

    #[test]
    fn script_ends_with_exactly_one_newline() {
        let reply = "```rhai\n\n\nfn compute_reward(s) {\n    #{ height: s.height }\n}   \n\n\n```";
        let extracted = extract_script(reply).unwrap();
        assert_eq!(extracted.script, SCRIPT);
        let extracted = extract_script("fn compute_reward(s) {\n    #{ height: s.height }\n}").unwrap();
        assert_eq!(extracted.script, SCRIPT);
    }

    #[test]
    fn empty_or_blank_reply_is_empty() {
        assert_eq!(extract_script(""), Err(ExtractError::Empty));
        assert_eq!(extract_script(" \r\n\t\n"), Err(ExtractError::Empty));
        assert_eq!(extract_script("\u{feff}"), Err(ExtractError::Empty));
    }

    #[test]
    fn error_messages_tell_the_model_what_to_do() {
        let none = ExtractError::NoRewardFunction { blocks: 2 }.to_string();
        assert!(none.contains("defines `fn compute_reward(s)` (2 fenced code blocks seen)"), "{none}");
        assert!(none.contains("```rhai"), "{none}");
        let cut = ExtractError::Truncated { open_braces: 1, unclosed_fence: true }.to_string();
        assert!(cut.contains("(1 `{` is never closed, and its code block has no closing fence)"), "{cut}");
        assert!(cut.contains("token limit"), "{cut}");
    }
}
