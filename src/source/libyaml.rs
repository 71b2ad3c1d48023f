//! A safe event stream over libyaml (dtolnay's `unsafe-libyaml` translation of the C
//! reference parser). All of topo's `unsafe` lives in this file.
//!
//! Why libyaml rather than saphyr-parser: on the 10,000-queue benchmark file (2.3 MB)
//! libyaml produces the event stream in about half the time (86 ms against 160 ms on our
//! machines), and parsing is most of what `topo validate` costs. Marks are byte offsets.

use std::ffi::CStr;
use std::marker::PhantomData;
use std::mem::MaybeUninit;

use unsafe_libyaml as unsafe_ffi;

/// How a scalar was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Quoted,
    Block,
}

/// One parse event, owned.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    DocumentStart,
    DocumentEnd,
    StreamStart,
    StreamEnd,
    Alias {
        anchor: String,
    },
    Scalar {
        value: String,
        style: Style,
        anchor: Option<String>,
        tag: Option<String>,
    },
    SequenceStart {
        anchor: Option<String>,
        tag: Option<String>,
    },
    SequenceEnd,
    MappingStart {
        anchor: Option<String>,
        tag: Option<String>,
    },
    MappingEnd,
}

/// A syntax error at a byte offset.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub message: String,
    pub at: usize,
}

/// Events of one input, with their byte ranges.
pub struct Events<'a> {
    parser: Box<MaybeUninit<unsafe_ffi::yaml_parser_t>>,
    done: bool,
    _input: PhantomData<&'a [u8]>,
}

impl<'a> Events<'a> {
    /// A parser over `input`, which must outlive it (the lifetime says so).
    pub fn new(input: &'a [u8]) -> Result<Events<'a>, SyntaxError> {
        let mut parser: Box<MaybeUninit<unsafe_ffi::yaml_parser_t>> =
            Box::new(MaybeUninit::uninit());
        // SAFETY: initialize writes a complete parser into the allocation; on failure nothing
        // else touches it. The input pointer stays valid for 'a, which bounds the parser.
        unsafe {
            if !unsafe_ffi::yaml_parser_initialize(parser.as_mut_ptr()).ok {
                return Err(SyntaxError {
                    message: "cannot initialize the YAML parser".into(),
                    at: 0,
                });
            }
            unsafe_ffi::yaml_parser_set_input_string(
                parser.as_mut_ptr(),
                input.as_ptr(),
                input.len() as _,
            );
        }
        Ok(Events {
            parser,
            done: false,
            _input: PhantomData,
        })
    }
}

impl Drop for Events<'_> {
    fn drop(&mut self) {
        // SAFETY: the parser was initialized in `new` (a failed init never builds an Events).
        unsafe { unsafe_ffi::yaml_parser_delete(self.parser.as_mut_ptr()) }
    }
}

/// Copy a NUL-terminated libyaml string (anchor, tag); null is `None`.
///
/// # Safety
/// `p` is null or points to a NUL-terminated string owned by a live event.
unsafe fn c_string(p: *const u8) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: guaranteed by the caller.
    Some(
        unsafe { CStr::from_ptr(p.cast()) }
            .to_string_lossy()
            .into_owned(),
    )
}

impl Iterator for Events<'_> {
    type Item = Result<(Event, usize, usize), SyntaxError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let parser = self.parser.as_mut_ptr();
        let mut raw = MaybeUninit::<unsafe_ffi::yaml_event_t>::uninit();
        // SAFETY: the parser is initialized; on success the event is initialized and we
        // delete it below after copying out everything we keep; on failure the parser's error
        // fields are set and no event exists.
        unsafe {
            if !unsafe_ffi::yaml_parser_parse(parser, raw.as_mut_ptr()).ok {
                self.done = true;
                let state: &unsafe_ffi::yaml_parser_t = &*parser;
                let problem =
                    c_string(state.problem.cast()).unwrap_or_else(|| "syntax error".into());
                let context = c_string(state.context.cast());
                let message = match context {
                    Some(c) => format!("{c}, {problem}"),
                    None => problem,
                };
                // Reader errors (bad encoding, control characters) carry a byte offset
                // instead of a mark.
                let at = if state.error == unsafe_ffi::YAML_READER_ERROR {
                    state.problem_offset as usize
                } else {
                    state.problem_mark.index as usize
                };
                return Some(Err(SyntaxError { message, at }));
            }
            let ev = raw.as_mut_ptr();
            let (start, end) = (
                (*ev).start_mark.index as usize,
                (*ev).end_mark.index as usize,
            );
            let event = match (*ev).type_ {
                unsafe_ffi::YAML_STREAM_START_EVENT => Event::StreamStart,
                unsafe_ffi::YAML_STREAM_END_EVENT => {
                    self.done = true;
                    Event::StreamEnd
                }
                unsafe_ffi::YAML_DOCUMENT_START_EVENT => Event::DocumentStart,
                unsafe_ffi::YAML_DOCUMENT_END_EVENT => Event::DocumentEnd,
                unsafe_ffi::YAML_ALIAS_EVENT => Event::Alias {
                    anchor: c_string((*ev).data.alias.anchor).unwrap_or_default(),
                },
                unsafe_ffi::YAML_SCALAR_EVENT => {
                    let s = (*ev).data.scalar;
                    let bytes = if s.value.is_null() {
                        &[][..]
                    } else {
                        std::slice::from_raw_parts(s.value, s.length as usize)
                    };
                    let style = match s.style {
                        unsafe_ffi::YAML_PLAIN_SCALAR_STYLE => Style::Plain,
                        unsafe_ffi::YAML_LITERAL_SCALAR_STYLE
                        | unsafe_ffi::YAML_FOLDED_SCALAR_STYLE => Style::Block,
                        _ => Style::Quoted,
                    };
                    Event::Scalar {
                        value: String::from_utf8_lossy(bytes).into_owned(),
                        style,
                        anchor: c_string(s.anchor),
                        tag: c_string(s.tag),
                    }
                }
                unsafe_ffi::YAML_SEQUENCE_START_EVENT => {
                    let s = (*ev).data.sequence_start;
                    Event::SequenceStart {
                        anchor: c_string(s.anchor),
                        tag: c_string(s.tag),
                    }
                }
                unsafe_ffi::YAML_SEQUENCE_END_EVENT => Event::SequenceEnd,
                unsafe_ffi::YAML_MAPPING_START_EVENT => {
                    let s = (*ev).data.mapping_start;
                    Event::MappingStart {
                        anchor: c_string(s.anchor),
                        tag: c_string(s.tag),
                    }
                }
                unsafe_ffi::YAML_MAPPING_END_EVENT => Event::MappingEnd,
                _ => Event::StreamEnd,
            };
            unsafe_ffi::yaml_event_delete(ev);
            Some(Ok((event, start, end)))
        }
    }
}
