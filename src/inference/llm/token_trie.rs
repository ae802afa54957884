//! [`TokenTrie`]: every token's bytes, decoded once from the vocabulary, in a byte trie that
//! constrained decoding walks each step.
//!
//! Nodes are laid out breadth-first so a node's children are contiguous; tokens are sorted by
//! their bytes, so the tokens below a node are one contiguous range (a whole subtree can be
//! accepted at once). Each node also knows whether everything below it is "plain" string
//! content (printable ASCII without `"` or `\`) and how long its longest token continues: inside
//! a JSON string with room for that many characters, the whole subtree is accepted without
//! walking it, which keeps the common step (writing text) cheap on a 151k vocabulary.

use super::json_schema_constraint::{CompiledSchema, JsonState};

const NONE: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct TrieNode {
    byte: u8,
    /// Tokens ending here or below: `sorted_ids[tokens.0..tokens.1]`; the ones ending exactly
    /// here come first (`ends` of them).
    tokens: (u32, u32),
    ends: u32,
    children: (u32, u32),
    /// Bytes below this node in its longest token.
    below: u16,
    /// Every byte below is plain string content.
    plain_below: bool,
}

pub struct TokenTrie {
    /// Bytes of each id; `None` for special/added tokens and ids the tokenizer does not have.
    bytes: Vec<Option<Box<[u8]>>>,
    sorted_ids: Vec<u32>,
    /// `nodes[0]` is the root (the empty prefix).
    nodes: Vec<TrieNode>,
}

/// Printable ASCII that a JSON string holds as is.
fn is_plain(b: u8) -> bool {
    (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\'
}

/// GPT-2 byte-level BPE spells every byte as one character: printable Latin-1 bytes as
/// themselves, the others as U+0100 + n in order.
fn byte_level_decoder() -> std::collections::HashMap<char, u8> {
    let mut map = std::collections::HashMap::new();
    let mut n = 0u32;
    for b in 0..=255u8 {
        let printable = (b'!'..=b'~').contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b);
        let c = if printable {
            char::from(b)
        } else {
            n += 1;
            char::from_u32(255 + n).unwrap_or('\0')
        };
        map.insert(c, b);
    }
    map
}

impl TokenTrie {
    /// Decodes the `vocab_size` ids of a byte-level BPE tokenizer (added tokens get no bytes:
    /// they are never allowed inside JSON).
    pub fn from_tokenizer(tokenizer: &tokenizers::Tokenizer, vocab_size: usize) -> Self {
        let decoder = byte_level_decoder();
        let added = tokenizer.get_added_tokens_decoder();
        let bytes = (0..vocab_size as u32)
            .map(|id| {
                if added.contains_key(&id) {
                    return None;
                }
                let piece = tokenizer.id_to_token(id)?;
                piece.chars().map(|c| decoder.get(&c).copied()).collect::<Option<Vec<u8>>>().map(Vec::into_boxed_slice)
            })
            .collect();
        Self::from_bytes(bytes)
    }

    /// A trie over explicit token bytes (`bytes[id]`).
    pub fn from_bytes(bytes: Vec<Option<Box<[u8]>>>) -> Self {
        let mut sorted_ids: Vec<u32> =
            (0..bytes.len() as u32).filter(|&i| bytes[i as usize].as_ref().is_some_and(|b| !b.is_empty())).collect();
        let key = |id: u32| bytes[id as usize].as_deref().unwrap_or_default();
        sorted_ids.sort_by(|&a, &b| key(a).cmp(key(b)));
        let root = TrieNode {
            byte: 0,
            tokens: (0, sorted_ids.len() as u32),
            ends: 0,
            children: (0, 0),
            below: 0,
            plain_below: false,
        };
        let mut nodes = vec![root];
        // Breadth-first: each queued node covers a range of tokens sharing its `depth` bytes.
        let mut queue = std::collections::VecDeque::from([(0usize, 0usize)]);
        while let Some((index, depth)) = queue.pop_front() {
            let (lo, hi) = (nodes[index].tokens.0 as usize, nodes[index].tokens.1 as usize);
            let mut i = lo;
            while i < hi && key(sorted_ids[i]).len() == depth {
                i += 1;
            }
            nodes[index].ends = (i - lo) as u32;
            let first_child = nodes.len() as u32;
            while i < hi {
                let b = key(sorted_ids[i])[depth];
                let start = i;
                while i < hi && key(sorted_ids[i])[depth] == b {
                    i += 1;
                }
                queue.push_back((nodes.len(), depth + 1));
                nodes.push(TrieNode {
                    byte: b,
                    tokens: (start as u32, i as u32),
                    ends: 0,
                    children: (NONE, NONE),
                    below: 0,
                    plain_below: true,
                });
            }
            nodes[index].children = (first_child, nodes.len() as u32);
        }
        // Children come after their parent: fold `below` / `plain_below` up in reverse order.
        for index in (1..nodes.len()).rev() {
            let (lo, hi) = nodes[index].children;
            let (mut below, mut plain) = (0u16, true);
            for c in lo..hi {
                let child = &nodes[c as usize];
                below = below.max(child.below.saturating_add(1));
                plain &= child.plain_below && is_plain(child.byte);
            }
            nodes[index].below = below;
            nodes[index].plain_below = plain;
        }
        Self { bytes, sorted_ids, nodes }
    }

    /// The bytes of `id`, `None` for tokens that never appear in constrained output.
    pub fn bytes(&self, id: u32) -> Option<&[u8]> {
        self.bytes.get(id as usize)?.as_deref()
    }

    pub fn vocab_len(&self) -> usize {
        self.bytes.len()
    }

    /// Appends to `out` every token the automaton accepts from `state`.
    pub fn walk(&self, state: &JsonState, schema: &CompiledSchema, out: &mut Vec<u32>) {
        let mut stack: Vec<(u32, JsonState)> = Vec::with_capacity(64);
        let root = &self.nodes[0];
        for c in root.children.0..root.children.1 {
            let mut next = *state;
            if next.feed(schema, self.nodes[c as usize].byte) {
                stack.push((c, next));
            }
        }
        while let Some((index, state)) = stack.pop() {
            let node = &self.nodes[index as usize];
            let (lo, hi) = (node.tokens.0 as usize, node.tokens.1 as usize);
            if node.plain_below && state.string_room(schema).is_some_and(|room| room >= node.below) {
                out.extend_from_slice(&self.sorted_ids[lo..hi]);
                continue;
            }
            out.extend_from_slice(&self.sorted_ids[lo..lo + node.ends as usize]);
            for c in node.children.0..node.children.1 {
                let mut next = state;
                if next.feed(schema, self.nodes[c as usize].byte) {
                    stack.push((c, next));
                }
            }
        }
    }
}
