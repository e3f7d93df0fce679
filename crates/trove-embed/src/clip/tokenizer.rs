//! CLIP's text tokenizer, as transformers' `CLIPTokenizer` runs it: the literal special tokens
//! `<|startoftext|>` and `<|endoftext|>` are kept as themselves; the text between them is
//! NFC-normalised, every run of whitespace becomes one space, and it is lower-cased; CLIP's
//! regular expression cuts it into words, numbers (one digit each) and runs of punctuation;
//! each piece becomes its UTF-8 bytes spelled as GPT-2's printable byte characters, the last
//! one marked with `</w>`, and is merged by byte-pair encoding (`merges.txt`, lowest rank
//! first) into ids of `vocab.json`. The ids are framed by `<|startoftext|>` … `<|endoftext|>`
//! and truncated to the model's positions (77) as `truncation=True` does: the first 75 ids of
//! the text are kept.

use std::collections::{BinaryHeap, HashMap};
use std::fs;
use std::path::Path;

use regex::Regex;
use unicode_normalization::UnicodeNormalization;

use crate::error::EmbedError;

/// The beginning-of-text token.
pub(crate) const BOS: &str = "<|startoftext|>";
/// The end-of-text token (also the unknown and padding token).
pub(crate) const EOS: &str = "<|endoftext|>";
/// How a word's last symbol is marked.
const END_OF_WORD: &str = "</w>";
/// CLIP's pre-tokenizer pattern.
const PATTERN: &str = r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";

/// A loaded CLIP tokenizer.
pub(crate) struct ClipTokenizer {
    vocab: HashMap<String, u32>,
    /// `(left id, right id)` → `(rank, merged id)`.
    merges: HashMap<(u32, u32), (u32, u32)>,
    /// Byte → its printable character.
    byte_chars: [char; 256],
    pattern: Regex,
    bos: u32,
    eos: u32,
    /// Most ids of one input, `<|startoftext|>` and `<|endoftext|>` included.
    max_len: usize,
}

impl ClipTokenizer {
    /// Reads `vocab.json` and `merges.txt` from `dir`; inputs are cut at `max_len` ids.
    pub(crate) fn load(dir: &Path, max_len: usize) -> Result<Self, EmbedError> {
        let vocab_path = dir.join("vocab.json");
        let bytes = fs::read(&vocab_path).map_err(|e| EmbedError::invalid(&vocab_path, format!("cannot read: {e}")))?;
        let vocab: HashMap<String, u32> = serde_json::from_slice(&bytes)
            .map_err(|e| EmbedError::invalid(&vocab_path, format!("not a JSON object of token → id: {e}")))?;
        let merges_path = dir.join("merges.txt");
        let text = fs::read_to_string(&merges_path)
            .map_err(|e| EmbedError::invalid(&merges_path, format!("cannot read as UTF-8 text: {e}")))?;
        Self::from_parts(vocab, &text, max_len).map_err(|(line, reason)| match line {
            Some(line) => EmbedError::invalid(&merges_path, format!("line {line}: {reason}")),
            None => EmbedError::invalid(&vocab_path, reason),
        })
    }

    /// Builds the tokenizer from a vocabulary and the text of `merges.txt`. Errors name the
    /// merges line at fault, or none for a problem of the vocabulary.
    fn from_parts(
        vocab: HashMap<String, u32>,
        merges_text: &str,
        max_len: usize,
    ) -> Result<Self, (Option<usize>, String)> {
        let id =
            |token: &str| vocab.get(token).copied().ok_or_else(|| (None, format!("the vocabulary has no {token}")));
        let (bos, eos) = (id(BOS)?, id(EOS)?);
        if max_len < 2 {
            return Err((None, format!("inputs of at most {max_len} tokens leave no room for {BOS} and {EOS}")));
        }
        let mut merges = HashMap::new();
        let mut rank = 0u32;
        for (n, line) in merges_text.lines().enumerate() {
            if line.starts_with("#version") || line.trim().is_empty() {
                continue;
            }
            let mut parts = line.split(' ');
            let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err((Some(n + 1), format!("{line:?} is not two symbols separated by one space")));
            };
            let look =
                |s: &str| vocab.get(s).copied().ok_or_else(|| (Some(n + 1), format!("{s:?} is not in vocab.json")));
            let merged = look(&format!("{a}{b}"))?;
            merges.entry((look(a)?, look(b)?)).or_insert((rank, merged));
            rank += 1;
        }
        let pattern =
            Regex::new(PATTERN).map_err(|e| (None, format!("the pre-tokenizer pattern does not compile: {e}")))?;
        Ok(ClipTokenizer { vocab, merges, byte_chars: byte_chars(), pattern, bos, eos, max_len })
    }

    /// The id of `<|endoftext|>`.
    pub(crate) fn eos(&self) -> u32 {
        self.eos
    }

    /// The ids of `text`: `<|startoftext|>`, at most `max_len - 2` ids of the text, `<|endoftext|>`.
    pub(crate) fn encode(&self, text: &str) -> Vec<u32> {
        let room = self.max_len - 2;
        let mut ids = vec![self.bos];
        self.encode_text(text, room, &mut ids);
        ids.truncate(room + 1);
        ids.push(self.eos);
        ids
    }

    /// The number of ids of `text` without the two special tokens and without truncation.
    pub(crate) fn count(&self, text: &str) -> usize {
        let mut ids = Vec::new();
        self.encode_text(text, usize::MAX, &mut ids);
        ids.len()
    }

    /// Appends the ids of `text` to `ids`, stopping once `limit` more are there.
    fn encode_text(&self, text: &str, limit: usize, ids: &mut Vec<u32>) {
        let goal = ids.len().saturating_add(limit);
        let mut rest = text;
        while !rest.is_empty() && ids.len() < goal {
            // The special tokens are found in the raw text, before normalisation.
            let special = [(BOS, self.bos), (EOS, self.eos)]
                .into_iter()
                .filter_map(|(s, id)| rest.find(s).map(|at| (at, s.len(), id)))
                .min_by_key(|&(at, _, _)| at);
            let (plain, after) = match special {
                Some((at, len, id)) => (&rest[..at], Some((id, &rest[at + len..]))),
                None => (rest, None),
            };
            self.encode_plain(plain, goal, ids);
            match after {
                Some((id, tail)) => {
                    if ids.len() < goal {
                        ids.push(id);
                    }
                    rest = tail;
                }
                None => break,
            }
        }
    }

    /// Appends the ids of text free of special tokens, stopping at `goal` ids.
    fn encode_plain(&self, text: &str, goal: usize, ids: &mut Vec<u32>) {
        if text.is_empty() {
            return;
        }
        let normal = normalize(text);
        let mut symbols = Vec::new();
        for piece in self.pattern.find_iter(&normal) {
            if ids.len() >= goal {
                return;
            }
            symbols.clear();
            let bytes = piece.as_str().as_bytes();
            for (i, &b) in bytes.iter().enumerate() {
                let mut s = String::from(self.byte_chars[usize::from(b)]);
                if i + 1 == bytes.len() {
                    s.push_str(END_OF_WORD);
                }
                symbols.push(self.vocab.get(&s).copied().unwrap_or(self.eos));
            }
            self.merge(&mut symbols);
            ids.extend_from_slice(&symbols);
        }
    }

    /// Byte-pair merges of one word in place: the pair of lowest rank first (the leftmost among
    /// equals), until no adjacent pair has a merge. `O(n log n)` in the word's length.
    fn merge(&self, word: &mut Vec<u32>) {
        if word.len() < 2 {
            return;
        }
        let n = word.len();
        // A doubly linked list over the symbols; a merged-away symbol is marked dead.
        let mut next: Vec<usize> = (1..=n).collect();
        let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
        let mut alive = vec![true; n];
        let mut heap = BinaryHeap::new();
        let push = |heap: &mut BinaryHeap<std::cmp::Reverse<(u32, usize)>>, word: &[u32], at: usize, right: usize| {
            if let Some(&(rank, _)) = self.merges.get(&(word[at], word[right])) {
                heap.push(std::cmp::Reverse((rank, at)));
            }
        };
        for i in 0..n - 1 {
            push(&mut heap, word, i, i + 1);
        }
        while let Some(std::cmp::Reverse((rank, at))) = heap.pop() {
            let right = next[at];
            if !alive[at] || right >= n {
                continue;
            }
            // The entry is stale when either symbol changed since it was pushed.
            let Some(&(current, merged)) = self.merges.get(&(word[at], word[right])) else { continue };
            if current != rank {
                continue;
            }
            word[at] = merged;
            alive[right] = false;
            next[at] = next[right];
            if next[at] < n {
                prev[next[at]] = at;
                push(&mut heap, word, at, next[at]);
            }
            if prev[at] < n {
                push(&mut heap, word, prev[at], at);
            }
        }
        let mut out = 0;
        for i in 0..n {
            if alive[i] {
                word[out] = word[i];
                out += 1;
            }
        }
        word.truncate(out);
    }
}

/// NFC, whitespace runs to one space, lower case (character by character, as `tokenizers`
/// does).
fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_space = false;
    for c in text.nfc() {
        if c.is_whitespace() {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            in_space = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// GPT-2's table from bytes to printable characters: the printable Latin-1 bytes stand for
/// themselves, the others are moved to U+0100 onwards in byte order.
fn byte_chars() -> [char; 256] {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut table = ['\0'; 256];
    let mut shifted = 0u32;
    for b in 0..=255u8 {
        table[usize::from(b)] = if printable(b) {
            char::from(b)
        } else {
            shifted += 1;
            char::from_u32(255 + shifted).unwrap_or('\u{FFFD}')
        };
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vocabulary of transformers' own CLIP tokenizer tests, with all byte symbols added.
    fn small() -> ClipTokenizer {
        let mut tokens: Vec<String> = Vec::new();
        for c in byte_chars() {
            tokens.push(c.to_string());
            tokens.push(format!("{c}</w>"));
        }
        for t in ["lo", "low</w>", "er</w>", "lowest</w>", "newer</w>", "wider", BOS, EOS] {
            tokens.push(t.to_string());
        }
        let vocab = tokens.into_iter().enumerate().map(|(i, t)| (t, i as u32)).collect();
        ClipTokenizer::from_parts(vocab, "#version: 0.2\nl o\nlo w</w>\ne r</w>\n", 77).unwrap()
    }

    fn pieces(t: &ClipTokenizer, text: &str) -> Vec<String> {
        let names: HashMap<u32, &str> = t.vocab.iter().map(|(k, &v)| (v, k.as_str())).collect();
        t.encode(text).iter().map(|id| names[id].to_string()).collect()
    }

    #[test]
    fn merges_by_rank_and_frames_with_the_special_tokens() {
        let t = small();
        assert_eq!(pieces(&t, "lower newer"), [BOS, "lo", "w", "er</w>", "n", "e", "w", "er</w>", EOS]);
        assert_eq!(pieces(&t, "LOW"), [BOS, "low</w>", EOS]);
        assert_eq!(pieces(&t, ""), [BOS, EOS]);
    }

    #[test]
    fn whitespace_case_and_unicode_are_normalised() {
        let t = small();
        assert_eq!(t.encode("  LOW \t\n low "), t.encode("low low"));
        assert_eq!(t.encode("nai\u{308}ve"), t.encode("naïve"));
        // One id per digit; punctuation runs stay together; contractions split off.
        assert_eq!(pieces(&t, "42!!"), [BOS, "4</w>", "2</w>", "!", "!</w>", EOS]);
        assert_eq!(pieces(&t, "it's"), [BOS, "i", "t</w>", "'", "s</w>", EOS]);
    }

    #[test]
    fn special_tokens_in_the_text_are_kept_and_long_inputs_truncated() {
        let t = small();
        let ids = t.encode("low<|endoftext|>low");
        assert_eq!(ids, [t.bos, t.vocab["low</w>"], t.eos, t.vocab["low</w>"], t.eos]);
        let long = "low ".repeat(200);
        let ids = t.encode(&long);
        assert_eq!(ids.len(), 77);
        assert_eq!((ids[0], ids[76]), (t.bos, t.eos));
        assert_eq!(t.count(&long), 200);
    }

    #[test]
    fn a_long_word_merges_in_reasonable_time() {
        let t = small();
        let word = "lo".repeat(200_000);
        let started = std::time::Instant::now();
        // 199 999 "lo" and the final "l", "o</w>" (no merge makes "lo</w>").
        assert_eq!(t.count(&word), 200_001);
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
    }

    #[test]
    fn bad_files_are_explained() {
        let vocab: HashMap<String, u32> = [("a".to_string(), 0)].into_iter().collect();
        let err = ClipTokenizer::from_parts(vocab.clone(), "", 77).err().unwrap();
        assert!(err.1.contains("<|startoftext|>"), "{err:?}");
        let mut vocab = vocab;
        vocab.insert(BOS.into(), 1);
        vocab.insert(EOS.into(), 2);
        let err = ClipTokenizer::from_parts(vocab.clone(), "#version: 0.2\na b\n", 77).err().unwrap();
        assert_eq!(err.0, Some(2));
        let err = ClipTokenizer::from_parts(vocab, "a a a\n", 77).err().unwrap();
        assert!(err.1.contains("two symbols"), "{err:?}");
    }
}
