//! Finds the quote that broke a CSV input. The CSV reader is lenient: a
//! quoted field whose closing quote is missing runs on over the following
//! rows until some other quote closes it (text after that closing quote is
//! kept), or to the end of the input. That either swallows rows silently or
//! fails a row many lines later with a field count that makes no sense. So
//! the bytes are also followed here, by RFC 4180's rules, to name the line
//! where the quote opened.

use std::cell::Cell;

/// Where the input is in RFC 4180's grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a field.
    FieldStart,
    /// In a field that did not start with a quote (quotes in it are text).
    Unquoted,
    /// In a quoted field opened on this line.
    Quoted(u64),
    /// Just after a quote inside a quoted field opened on this line: a
    /// doubled quote, or the field's end.
    QuoteInQuoted(u64),
}

/// A quoted field that did not end where RFC 4180 says it must.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokenQuote {
    /// The line the quote opened on.
    pub line: u64,
    /// The input offset at which the quote turned out broken.
    pub at: u64,
}

impl BrokenQuote {
    pub fn message(self) -> String {
        format!(
            "the quote opened on line {} is not closed: a quoted field must end with `\"` \
             right before a comma or a line break (a quote inside it is doubled, `\"\"`); \
             the input was not read further",
            self.line
        )
    }
}

/// Follows the bytes of a CSV input as they are read.
#[derive(Debug)]
pub struct QuoteCheck {
    state: Cell<State>,
    line: Cell<u64>,
    offset: Cell<u64>,
    broken: Cell<Option<BrokenQuote>>,
}

impl Default for QuoteCheck {
    fn default() -> Self {
        Self {
            state: Cell::new(State::FieldStart),
            line: Cell::new(1),
            offset: Cell::new(0),
            broken: Cell::new(None),
        }
    }
}

impl QuoteCheck {
    /// Takes the next bytes of the input.
    pub fn feed(&self, bytes: &[u8]) {
        if self.broken.get().is_some() {
            return;
        }
        for &byte in bytes {
            let state = self.next(self.state.get(), byte);
            self.state.set(state);
            if byte == b'\n' {
                self.line.set(self.line.get() + 1);
            }
            self.offset.set(self.offset.get() + 1);
            if self.broken.get().is_some() {
                return;
            }
        }
    }

    fn next(&self, state: State, byte: u8) -> State {
        let separator = matches!(byte, b',' | b'\r' | b'\n');
        match state {
            State::FieldStart if byte == b'"' => State::Quoted(self.line.get()),
            State::FieldStart | State::Unquoted if separator => State::FieldStart,
            State::FieldStart | State::Unquoted => State::Unquoted,
            State::Quoted(line) if byte == b'"' => State::QuoteInQuoted(line),
            State::Quoted(line) => State::Quoted(line),
            State::QuoteInQuoted(line) if byte == b'"' => State::Quoted(line),
            State::QuoteInQuoted(_) if separator => State::FieldStart,
            State::QuoteInQuoted(line) => {
                self.break_at(line);
                state
            }
        }
    }

    /// The input ended: a quoted field still open there never closed.
    pub fn end(&self) {
        if let State::Quoted(line) = self.state.get()
            && self.broken.get().is_none()
        {
            self.break_at(line);
        }
    }

    fn break_at(&self, line: u64) {
        self.broken.set(Some(BrokenQuote {
            line,
            at: self.offset.get(),
        }));
    }

    /// The broken quote, if the input read up to offset `end` has one.
    pub fn broken_before(&self, end: u64) -> Option<BrokenQuote> {
        self.broken.get().filter(|b| b.at <= end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str) -> Option<BrokenQuote> {
        let check = QuoteCheck::default();
        check.feed(input.as_bytes());
        check.end();
        check.broken_before(u64::MAX)
    }

    #[test]
    fn well_formed_quotes_pass() {
        assert_eq!(
            check("a,\"b, \"\"c\"\"\r\nd\"\r\ne,5\" screen\n\"\"\n"),
            None
        );
    }

    #[test]
    fn a_quote_left_open_is_found_on_its_line() {
        assert_eq!(check("a,b\n1,\"x\n2,y\n").map(|b| b.line), Some(2));
        let closed_late = "a,b\n1,\"x\n2,y\n3,\"z\"\n";
        assert_eq!(check(closed_late).map(|b| b.line), Some(2));
    }
}
