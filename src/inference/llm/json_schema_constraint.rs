//! [`JsonSchemaConstraint`]: token-level constrained decoding to a JSON schema, so the model's
//! output always parses.
//!
//! The schema subset ([`JsonSchema`]) is what meeting extraction needs: objects whose properties
//! are all required and come in a fixed order, strings with a length range (optionally `null`),
//! arrays with a maximum item count, integers (optionally `null`). It is compiled into a
//! pushdown automaton over **bytes** ([`JsonState`], a small `Copy` value) so byte-level BPE
//! tokens that carry half a UTF-8 character are handled exactly. Each step the tokens whose
//! bytes cannot extend the output so far are masked out by walking the vocabulary trie
//! ([`TokenTrie`]) with the automaton, pruning every subtree at its first rejected byte.
//! Property keys are forced (no whitespace before them), so the generator feeds them without
//! asking the model. Whitespace is allowed only between other JSON tokens, at most
//! [`MAX_WHITESPACE_RUN`] bytes in a row, so the model cannot stall on spaces.

use std::sync::Arc;

use super::token_trie::TokenTrie;

/// Longest run of whitespace accepted between two JSON tokens.
pub const MAX_WHITESPACE_RUN: u8 = 1;
/// Most digits of an integer.
const MAX_DIGITS: u8 = 12;
/// Deepest nesting of the compiled schema.
const MAX_DEPTH: usize = 8;

/// The schema subset; see the module header.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonSchema {
    /// Required properties, written in this order.
    Object(Vec<(String, JsonSchema)>),
    /// Lengths in characters (an escape counts as one).
    String {
        min_len: u16,
        max_len: u16,
        nullable: bool,
    },
    Array {
        items: Box<JsonSchema>,
        max_items: u8,
    },
    Integer {
        nullable: bool,
    },
    /// `null` or a value of the inner schema (for objects and arrays; strings and integers
    /// have their own flag).
    Nullable(Box<JsonSchema>),
}

impl JsonSchema {
    pub fn string(max_len: u16) -> Self {
        JsonSchema::String { min_len: 0, max_len, nullable: false }
    }

    pub fn nullable_string(max_len: u16) -> Self {
        JsonSchema::String { min_len: 0, max_len, nullable: true }
    }

    pub fn array(items: JsonSchema, max_items: u8) -> Self {
        JsonSchema::Array { items: Box::new(items), max_items }
    }

    pub fn object<'a>(props: impl IntoIterator<Item = (&'a str, JsonSchema)>) -> Self {
        JsonSchema::Object(props.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    pub fn nullable(inner: JsonSchema) -> Self {
        JsonSchema::Nullable(Box::new(inner))
    }
}

/// A schema flattened into a node table the automaton indexes by `u16`.
#[derive(Debug)]
pub struct CompiledSchema {
    nodes: Vec<Node>,
}

#[derive(Debug)]
enum Node {
    /// `keys[i]` is the literal `"name":` of property `i`.
    Object {
        keys: Vec<Vec<u8>>,
        values: Vec<u16>,
    },
    String {
        min_len: u16,
        max_len: u16,
        nullable: bool,
    },
    Array {
        item: u16,
        max_items: u8,
    },
    Integer {
        nullable: bool,
    },
    Nullable(u16),
}

impl CompiledSchema {
    pub fn compile(schema: &JsonSchema) -> Result<Arc<Self>, String> {
        let mut nodes = Vec::new();
        add(&mut nodes, schema, 0)?;
        Ok(Arc::new(Self { nodes }))
    }
}

fn add(nodes: &mut Vec<Node>, schema: &JsonSchema, depth: usize) -> Result<u16, String> {
    // Values nest two frames per level at most (container + value); keep to the stack size.
    if depth > MAX_DEPTH / 2 {
        return Err(format!("schema nests deeper than {} levels", MAX_DEPTH / 2 + 1));
    }
    let index = u16::try_from(nodes.len()).map_err(|_| "schema too large".to_owned())?;
    match schema {
        JsonSchema::Object(props) => {
            if props.is_empty() || props.len() > usize::from(u8::MAX) {
                return Err("objects need 1..=255 properties".into());
            }
            nodes.push(Node::Object { keys: Vec::new(), values: Vec::new() });
            let mut keys = Vec::new();
            let mut values = Vec::new();
            for (name, value) in props {
                let literal = serde_json::to_string(name).map_err(|e| e.to_string())? + ":";
                keys.push(literal.into_bytes());
                values.push(add(nodes, value, depth + 1)?);
            }
            nodes[usize::from(index)] = Node::Object { keys, values };
        }
        JsonSchema::String { min_len, max_len, nullable } => {
            if min_len > max_len {
                return Err("string min_len > max_len".into());
            }
            nodes.push(Node::String { min_len: *min_len, max_len: *max_len, nullable: *nullable });
        }
        JsonSchema::Array { items, max_items } => {
            nodes.push(Node::Array { item: 0, max_items: *max_items });
            let item = add(nodes, items, depth + 1)?;
            nodes[usize::from(index)] = Node::Array { item, max_items: *max_items };
        }
        JsonSchema::Integer { nullable } => nodes.push(Node::Integer { nullable: *nullable }),
        JsonSchema::Nullable(inner) => {
            nodes.push(Node::Nullable(0));
            let inner = add(nodes, inner, depth)?;
            nodes[usize::from(index)] = Node::Nullable(inner);
        }
    }
    Ok(index)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// A value of `node` comes next (whitespace first allowed).
    Value(u16),
    /// Inside the key literal of property `prop`; `pos` bytes of it written.
    Key {
        node: u16,
        prop: u8,
        pos: u8,
    },
    /// After the value of `prop`: `,` and the next key, or `}` after the last.
    AfterProp {
        node: u16,
        prop: u8,
    },
    /// Right after `[`.
    ArrayStart(u16),
    /// After item number `count`.
    AfterItem {
        node: u16,
        count: u8,
    },
    /// Inside a string: `len` characters so far; `pending` = what the last byte left open.
    Str {
        node: u16,
        len: u16,
        pending: Pending,
    },
    Int {
        digits: u8,
        leading_zero: bool,
    },
    /// `pos` bytes of `null` written.
    Null {
        pos: u8,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    None,
    /// After a backslash.
    Escape,
    /// Hex digits of `\uXXXX` still to come; `high` = the first digit was `d` (surrogate range
    /// check on the second).
    Hex {
        left: u8,
        high: bool,
    },
    /// Continuation bytes of a UTF-8 character still to come.
    Utf8(u8),
}

/// Where the automaton stands: a stack of frames; `Copy`, so trying a token is cheap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonState {
    stack: [Frame; MAX_DEPTH],
    depth: u8,
    ws_run: u8,
}

impl JsonState {
    pub fn new() -> Self {
        let mut stack = [Frame::Null { pos: 0 }; MAX_DEPTH];
        stack[0] = Frame::Value(0);
        Self { stack, depth: 1, ws_run: 0 }
    }

    /// The whole value has been written.
    pub fn is_complete(&self) -> bool {
        self.depth == 0
    }

    /// The bytes that must come next whatever the model wants: the rest of a property key
    /// (`"title":`), since keys are fixed and in order. The generator feeds them in one call.
    pub fn forced<'s>(&self, schema: &'s CompiledSchema) -> Option<&'s [u8]> {
        match self.top()? {
            Frame::Key { node, prop, pos } => match &schema.nodes[usize::from(node)] {
                Node::Object { keys, .. } => Some(&keys[usize::from(prop)][usize::from(pos)..]),
                _ => None,
            },
            _ => None,
        }
    }

    /// Whether the next value is `null` or a value of a [`JsonSchema::Nullable`]: a yes/no
    /// decision the generator may weigh on its own.
    pub fn at_nullable(&self, schema: &CompiledSchema) -> bool {
        matches!(self.top(), Some(Frame::Value(node)) if matches!(schema.nodes[usize::from(node)], Node::Nullable(_)))
    }

    /// Characters a string being written may still take, when the next bytes are plain
    /// (no escape or multi-byte character is open); `None` outside a string body.
    pub fn string_room(&self, schema: &CompiledSchema) -> Option<u16> {
        match self.top()? {
            Frame::Str { node, len, pending: Pending::None } => match schema.nodes[usize::from(node)] {
                Node::String { max_len, .. } => Some(max_len - len),
                _ => None,
            },
            _ => None,
        }
    }

    fn top(&self) -> Option<Frame> {
        self.depth.checked_sub(1).map(|d| self.stack[usize::from(d)])
    }

    fn set_top(&mut self, frame: Frame) {
        self.stack[usize::from(self.depth - 1)] = frame;
    }

    fn push(&mut self, frame: Frame) -> bool {
        if usize::from(self.depth) == MAX_DEPTH {
            return false;
        }
        self.stack[usize::from(self.depth)] = frame;
        self.depth += 1;
        true
    }

    fn pop(&mut self) {
        self.depth -= 1;
    }

    fn whitespace(&mut self) -> bool {
        self.ws_run += 1;
        self.ws_run <= MAX_WHITESPACE_RUN
    }

    /// Feeds every byte of `bytes`; false (and a state to throw away) on the first one the
    /// schema does not allow.
    pub fn feed_all(&mut self, schema: &CompiledSchema, bytes: &[u8]) -> bool {
        bytes.iter().all(|&b| self.feed(schema, b))
    }

    /// Feeds one byte; false when the schema does not allow it here.
    pub fn feed(&mut self, schema: &CompiledSchema, b: u8) -> bool {
        let is_ws = b == b' ' || b == b'\n';
        loop {
            let Some(frame) = self.top() else {
                // Done: only a little trailing whitespace.
                return is_ws && self.whitespace();
            };
            // Whitespace inside strings is content; between JSON tokens it is limited.
            let between_tokens = matches!(
                frame,
                Frame::Value(_) | Frame::AfterProp { .. } | Frame::ArrayStart(_) | Frame::AfterItem { .. }
            );
            if between_tokens && is_ws {
                return self.whitespace();
            }
            if !matches!(frame, Frame::Str { .. } | Frame::Int { .. }) {
                self.ws_run = 0;
            }
            match frame {
                Frame::Value(node) => return self.start_value(schema, node, b),
                Frame::Key { node, prop, pos } => {
                    let Node::Object { keys, values } = &schema.nodes[usize::from(node)] else { return false };
                    let key = &keys[usize::from(prop)];
                    if key[usize::from(pos)] != b {
                        return false;
                    }
                    if usize::from(pos) + 1 == key.len() {
                        self.set_top(Frame::AfterProp { node, prop });
                        return self.push(Frame::Value(values[usize::from(prop)]));
                    }
                    self.set_top(Frame::Key { node, prop, pos: pos + 1 });
                    return true;
                }
                Frame::AfterProp { node, prop } => {
                    let Node::Object { keys, .. } = &schema.nodes[usize::from(node)] else { return false };
                    if usize::from(prop) + 1 < keys.len() {
                        if b != b',' {
                            return false;
                        }
                        self.set_top(Frame::Key { node, prop: prop + 1, pos: 0 });
                    } else {
                        if b != b'}' {
                            return false;
                        }
                        self.pop();
                    }
                    return true;
                }
                Frame::ArrayStart(node) => {
                    if b == b']' {
                        self.pop();
                        return true;
                    }
                    let Node::Array { item, max_items } = schema.nodes[usize::from(node)] else { return false };
                    if max_items == 0 {
                        return false;
                    }
                    self.set_top(Frame::AfterItem { node, count: 1 });
                    return self.push(Frame::Value(item)) && self.start_value(schema, item, b);
                }
                Frame::AfterItem { node, count } => {
                    let Node::Array { item, max_items } = schema.nodes[usize::from(node)] else { return false };
                    match b {
                        b']' => {
                            self.pop();
                            return true;
                        }
                        b',' if count < max_items => {
                            self.set_top(Frame::AfterItem { node, count: count + 1 });
                            return self.push(Frame::Value(item));
                        }
                        _ => return false,
                    }
                }
                Frame::Str { node, len, pending } => return self.string_byte(schema, node, len, pending, b),
                Frame::Int { digits, leading_zero } => {
                    if b.is_ascii_digit() {
                        if leading_zero || digits >= MAX_DIGITS {
                            return false;
                        }
                        self.set_top(Frame::Int { digits: digits + 1, leading_zero: digits == 0 && b == b'0' });
                        return true;
                    }
                    if digits == 0 {
                        return false;
                    }
                    // The integer ended; the byte belongs to the enclosing frame.
                    self.pop();
                    self.ws_run = 0;
                    continue;
                }
                Frame::Null { pos } => {
                    if b"null"[usize::from(pos)] != b {
                        return false;
                    }
                    if pos == 3 {
                        self.pop();
                    } else {
                        self.set_top(Frame::Null { pos: pos + 1 });
                    }
                    return true;
                }
            }
        }
    }

    fn start_value(&mut self, schema: &CompiledSchema, node: u16, b: u8) -> bool {
        let frame = match (&schema.nodes[usize::from(node)], b) {
            (Node::Object { .. }, b'{') => Frame::Key { node, prop: 0, pos: 0 },
            (Node::Array { .. }, b'[') => Frame::ArrayStart(node),
            (Node::String { .. }, b'"') => Frame::Str { node, len: 0, pending: Pending::None },
            (Node::String { nullable: true, .. } | Node::Integer { nullable: true }, b'n') => Frame::Null { pos: 1 },
            (Node::Integer { .. }, b'-') => Frame::Int { digits: 0, leading_zero: false },
            (Node::Integer { .. }, b'0'..=b'9') => Frame::Int { digits: 1, leading_zero: b == b'0' },
            (Node::Nullable(_), b'n') => Frame::Null { pos: 1 },
            (&Node::Nullable(inner), _) => return self.start_value(schema, inner, b),
            _ => return false,
        };
        self.set_top(frame);
        true
    }

    fn string_byte(&mut self, schema: &CompiledSchema, node: u16, len: u16, pending: Pending, b: u8) -> bool {
        let Node::String { min_len, max_len, .. } = schema.nodes[usize::from(node)] else { return false };
        let next = match pending {
            Pending::None => match b {
                b'"' => {
                    if len < min_len {
                        return false;
                    }
                    self.pop();
                    return true;
                }
                0x00..=0x1f | 0x7f => return false,
                _ if len >= max_len => return false,
                b'\\' => Frame::Str { node, len: len + 1, pending: Pending::Escape },
                0x20..=0x7e => Frame::Str { node, len: len + 1, pending: Pending::None },
                0xc2..=0xdf => Frame::Str { node, len: len + 1, pending: Pending::Utf8(1) },
                0xe0..=0xef => Frame::Str { node, len: len + 1, pending: Pending::Utf8(2) },
                0xf0..=0xf4 => Frame::Str { node, len: len + 1, pending: Pending::Utf8(3) },
                _ => return false,
            },
            Pending::Escape => match b {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                    Frame::Str { node, len, pending: Pending::None }
                }
                b'u' => Frame::Str { node, len, pending: Pending::Hex { left: 4, high: false } },
                _ => return false,
            },
            Pending::Hex { left, high } => {
                if !b.is_ascii_hexdigit() {
                    return false;
                }
                // No UTF-16 surrogates (\uD800–\uDFFF): a lone one does not parse.
                if left == 3 && high && !matches!(b, b'0'..=b'7') {
                    return false;
                }
                let pending = if left == 1 {
                    Pending::None
                } else {
                    Pending::Hex { left: left - 1, high: left == 4 && matches!(b, b'd' | b'D') }
                };
                Frame::Str { node, len, pending }
            }
            Pending::Utf8(left) => {
                if !(0x80..=0xbf).contains(&b) {
                    return false;
                }
                Frame::Str { node, len, pending: if left == 1 { Pending::None } else { Pending::Utf8(left - 1) } }
            }
        };
        self.set_top(next);
        true
    }
}

impl Default for JsonState {
    fn default() -> Self {
        Self::new()
    }
}

/// The automaton bound to a vocabulary: which tokens may come next, and advancing by one.
pub struct JsonSchemaConstraint {
    schema: Arc<CompiledSchema>,
    trie: Arc<TokenTrie>,
    state: JsonState,
    /// Bytes accepted so far (the output text).
    written: Vec<u8>,
}

impl JsonSchemaConstraint {
    pub fn new(schema: Arc<CompiledSchema>, trie: Arc<TokenTrie>) -> Self {
        Self { schema, trie, state: JsonState::new(), written: Vec::new() }
    }

    pub fn is_complete(&self) -> bool {
        self.state.is_complete()
    }

    /// See [`JsonState::forced`].
    pub fn forced(&self) -> Option<&[u8]> {
        self.state.forced(&self.schema)
    }

    pub fn written(&self) -> &[u8] {
        &self.written
    }

    /// See [`JsonState::at_nullable`].
    pub fn at_nullable(&self) -> bool {
        self.state.at_nullable(&self.schema)
    }

    /// Whether `token` may come next.
    pub fn allows(&self, token: u32) -> bool {
        match self.trie.bytes(token) {
            Some(bytes) if !bytes.is_empty() => self.state.clone().feed_all(&self.schema, bytes),
            _ => false,
        }
    }

    /// Accepts `token`; false (state unchanged) when it is not allowed.
    pub fn advance(&mut self, token: u32) -> bool {
        let Some(bytes) = self.trie.bytes(token) else { return false };
        let mut next = self.state;
        if bytes.is_empty() || !next.feed_all(&self.schema, bytes) {
            return false;
        }
        self.state = next;
        self.written.extend_from_slice(bytes);
        true
    }

    /// How many of `tokens`, fed in order from here, could be chosen: up to the first one not
    /// allowed, or through the first one after which a key is forced or the value is complete
    /// (what follows that one is not the model's to choose). The state is not changed.
    pub fn usable_prefix(&self, tokens: &[u32]) -> usize {
        let mut state = self.state;
        for (i, &t) in tokens.iter().enumerate() {
            match self.trie.bytes(t) {
                Some(bytes) if !bytes.is_empty() && state.feed_all(&self.schema, bytes) => {}
                _ => return i,
            }
            if state.is_complete() || state.forced(&self.schema).is_some() {
                return i + 1;
            }
        }
        tokens.len()
    }

    /// Every token allowed next, into `out` (cleared first).
    pub fn allowed_tokens(&self, out: &mut Vec<u32>) {
        out.clear();
        self.trie.walk(&self.state, &self.schema, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> JsonSchema {
        JsonSchema::object([
            ("title", JsonSchema::String { min_len: 1, max_len: 10, nullable: false }),
            ("assignee", JsonSchema::nullable_string(8)),
            ("segs", JsonSchema::array(JsonSchema::Integer { nullable: false }, 3)),
        ])
    }

    fn schema() -> Arc<CompiledSchema> {
        CompiledSchema::compile(&JsonSchema::object([
            ("summary", JsonSchema::string(12)),
            ("items", JsonSchema::array(item(), 2)),
        ]))
        .unwrap()
    }

    /// Feeds `text`; `Ok(complete)` or `Err(byte offset of the first refused byte)`.
    fn run(schema: &CompiledSchema, text: &str) -> Result<bool, usize> {
        let mut state = JsonState::new();
        for (i, &b) in text.as_bytes().iter().enumerate() {
            if !state.feed(schema, b) {
                return Err(i);
            }
        }
        Ok(state.is_complete())
    }

    #[test]
    fn accepts_valid_documents_and_their_prefixes() {
        let s = schema();
        let docs = [
            r#"{"summary":"ok","items":[]}"#,
            r#"{"summary": "a\"b\\c\n\u00e9","items": [{"title":"x","assignee":null,"segs":[1, 20,-3]}]}"#,
            "{\"summary\":\"회의 요약 😀\",\"items\":[{\"title\":\"Write\",\"assignee\":\"Bo\",\"segs\":[0]},{\"title\":\"y\",\"assignee\":null,\"segs\":[]}]}",
            "{\"summary\":\"\",\"items\":[]}\n",
        ];
        for doc in docs {
            assert_eq!(run(&s, doc), Ok(true), "{doc}");
            let parsed: serde_json::Value = serde_json::from_str(doc).unwrap();
            assert!(parsed.is_object());
            // Every proper prefix is accepted but incomplete.
            for cut in 0..doc.len() {
                if doc.is_char_boundary(cut) && !doc[..cut].trim_end().ends_with('}') {
                    assert_eq!(run(&s, &doc[..cut]), Ok(false), "prefix {:?}", &doc[..cut]);
                }
            }
        }
    }

    #[test]
    fn refuses_invalid_bytes_where_they_occur() {
        let s = schema();
        let cases: &[(&str, usize)] = &[
            (r#"["#, 0),                                   // not an object
            (r#"{"items""#, 2),                            // keys in order
            (r#"{ "summary""#, 1),                         // no whitespace before a key
            (r#"{"summary":null"#, 11),                    // summary is not nullable
            (r#"{"summary":"0123456789abc"#, 24),          // max 12 characters
            (r#"{"summary":"a\x"#, 14),                    // unknown escape
            (r#"{"summary":"\ud800"#, 15),                 // lone surrogate
            ("{\"summary\":\"a\nb", 13),                   // raw control character
            (r#"{"summary":"","items":[{"title":"""#, 33), // title min 1
            (r#"{"summary":"","items":[{"title":"t","assignee":nul "#, 50),
            (r#"{"summary":"","items":[{"title":"t","assignee":null,"segs":[01"#, 61),
            (r#"{"summary":"","items":[{"title":"t","assignee":null,"segs":[1,2,3,"#, 65), // max 3 items
            (r#"{"summary":"","items":[{"title":"t","assignee":null,"segs":[-]"#, 61),
            (r#"{"summary":  ""#, 12),             // whitespace run limited
            (r#"{"summary":"","items":[]}x"#, 25), // nothing after the value
        ];
        for &(text, at) in cases {
            assert_eq!(run(&s, text), Err(at), "{text}");
        }
        // Two items at most.
        let one = r#"{"title":"t","assignee":null,"segs":[]}"#;
        let text = format!(r#"{{"summary":"","items":[{one},{one},"#);
        assert_eq!(run(&s, &text), Err(text.len() - 1));
    }

    #[test]
    fn nullable_objects_take_null_or_the_object() {
        let s = CompiledSchema::compile(&JsonSchema::object([
            ("a", JsonSchema::nullable(item())),
            ("b", JsonSchema::nullable(item())),
        ]))
        .unwrap();
        assert_eq!(run(&s, r#"{"a":null,"b":{"title":"t","assignee":null,"segs":[]}}"#), Ok(true));
        assert_eq!(run(&s, r#"{"a":null,"b":null}"#), Ok(true));
        assert_eq!(run(&s, r#"{"a":nul}"#), Err(8));
        assert_eq!(run(&s, r#"{"a":"t""#), Err(5));
        assert_eq!(run(&s, r#"{"a":{"segs""#), Err(7)); // the inner object's keys still in order
    }

    #[test]
    fn utf8_is_validated_and_counted_in_characters() {
        let s = CompiledSchema::compile(&JsonSchema::object([("s", JsonSchema::string(3))])).unwrap();
        assert_eq!(run(&s, "{\"s\":\"가나다\"}"), Ok(true));
        assert_eq!(run(&s, "{\"s\":\"가나다라"), Err(15));
        // A continuation byte with no lead, a lead with no continuation.
        let mut state = JsonState::new();
        assert!(state.feed_all(&s, b"{\"s\":\""));
        assert!(!state.clone().feed(&s, 0x80));
        assert!(state.feed(&s, 0xea));
        assert!(!state.clone().feed(&s, b'"'));
        assert!(state.feed_all(&s, &[0xb0, 0x80, b'"', b'}']));
        assert!(state.is_complete());
    }

    #[test]
    fn keys_are_forced() {
        let s = schema();
        let mut state = JsonState::new();
        assert_eq!(state.forced(&s), None);
        assert!(state.feed(&s, b'{'));
        assert_eq!(state.forced(&s), Some(&b"\"summary\":"[..]));
        assert!(state.feed_all(&s, b"\"sum"));
        assert_eq!(state.forced(&s), Some(&b"mary\":"[..]));
    }

    #[test]
    fn trie_mask_equals_brute_force() {
        let s = schema();
        let words: Vec<&[u8]> = vec![
            b"{",
            b"{\"",
            b"\"",
            b"\",",
            b"\"}",
            b"summary",
            b"\":",
            b" \"",
            b"hello",
            b" world",
            b"\\",
            b"\\n",
            b"n",
            b"null",
            b"nu",
            b"[",
            b"[]",
            b"]}",
            b"}",
            b"1",
            b"12",
            b",",
            b", ",
            b"  ",
            b" ",
            b"\n",
            b"\xea",
            b"\xb0\x80",
            b"title",
            b"x\"y",
            b"abcdefghijklm",
        ];
        let bytes: Vec<Option<Box<[u8]>>> =
            words.iter().map(|w| Some(w.to_vec().into_boxed_slice())).chain([None]).collect();
        let trie = Arc::new(TokenTrie::from_bytes(bytes));
        let mut constraint = JsonSchemaConstraint::new(s.clone(), trie.clone());
        let script: &[&[u8]] = &[
            b"{",
            b"\"summary\":",
            b" \"",
            b"hello",
            b" world",
            b"\"",
            b",",
            b"\"items\":",
            b"[",
            b"{",
            b"\"title\":",
            b"\"",
            b"\xea",
            b"\xb0\x80",
            b"\",",
            b"\"assignee\":",
            b"nu",
            b"ll",
            b",",
            b"\"segs\":",
            b"[",
            b"1",
            b"12",
            b"]}",
            b"]}",
        ];
        let mut allowed = Vec::new();
        for piece in script {
            constraint.allowed_tokens(&mut allowed);
            allowed.sort_unstable();
            let expected: Vec<u32> = (0..trie.vocab_len() as u32).filter(|&t| constraint.allows(t)).collect();
            assert_eq!(allowed, expected, "after {:?}", String::from_utf8_lossy(constraint.written()));
            let mut state = constraint.state;
            assert!(state.feed_all(&s, piece), "{:?}", String::from_utf8_lossy(piece));
            constraint.state = state;
            constraint.written.extend_from_slice(piece);
        }
        assert!(constraint.is_complete());
        assert!(!constraint.allows(words.len() as u32), "tokens without bytes are never allowed");
    }
}
