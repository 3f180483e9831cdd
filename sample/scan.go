package sample

import (
	"unicode/utf16"
	"unicode/utf8"
)

// The wire format is one small JSON object of a fixed schema, decoded once
// per NATS message: the collector's hot path, where a malformed message must
// be a counted rejection. valyala/fastjson, used before, builds a tree and
// is lenient (it takes 01, 1., NaN and raw control characters); with its
// validator in front it is strict but costs twice as much. easyjson's jlexer
// measured slower than fastjson. This scanner reads the object strictly
// (RFC 8259) in one pass, keeps only the fields Decode asks for, and costs
// less than lenient fastjson did (docs/benchmarks.md). FuzzDecode checks
// its verdicts against encoding/json.

// valueKind is the JSON type of a value the scanner read.
type valueKind uint8

const (
	kindNone valueKind = iota // the field was absent
	kindString
	kindNumber
	kindTrue
	kindFalse
	kindNull
	kindObject
	kindArray
)

// value is a scalar as read: a string's unescaped text or a number's
// literal. Objects and arrays are validated and skipped: only their kind
// is kept.
type value struct {
	kind valueKind
	text string
}

// maxDepth bounds the nesting of skipped values; MaxSize bounds it too, but
// a stack of 4096 recursive calls is no use to anyone.
const maxDepth = 64

// scanner reads one JSON text strictly (RFC 8259). Every method returns
// false on the first syntax error, after which the scanner is not used.
type scanner struct {
	data []byte
	pos  int
	// unescaped holds strings that had escapes. It is allocated once with
	// MaxSize capacity and never grows past it (an unescaped string is no
	// longer than its JSON form), so strings aliasing it stay valid until
	// the next reset.
	unescaped []byte
}

func (s *scanner) reset(data []byte) {
	s.data, s.pos = data, 0
	if s.unescaped == nil {
		s.unescaped = make([]byte, 0, MaxSize)
	}
	s.unescaped = s.unescaped[:0]
}

// skipSpace skips insignificant whitespace and returns the next byte, or 0
// at the end.
func (s *scanner) skipSpace() byte {
	data, i := s.data, s.pos
	for ; i < len(data); i++ {
		// Most calls stop at once: every JSON space is at most ' '.
		if c := data[i]; c > ' ' || c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			s.pos = i
			return c
		}
	}
	s.pos = i
	return 0
}

// consume reads c, after whitespace.
func (s *scanner) consume(c byte) bool {
	if s.skipSpace() != c {
		return false
	}
	s.pos++
	return true
}

// end reports whether only whitespace is left.
func (s *scanner) end() bool {
	return s.skipSpace() == 0 && s.pos == len(s.data)
}

// An object is read as open, then for each member key, the member's value,
// and next; the loops that read them need no callback.

// open reads an object's '{'; more is false for an empty object.
func (s *scanner) open() (more, ok bool) {
	if !s.consume('{') {
		return false, false
	}
	if s.skipSpace() == '}' {
		s.pos++
		return false, true
	}
	return true, true
}

// key reads a member's key and the colon after it.
func (s *scanner) key() (string, bool) {
	if s.skipSpace() != '"' {
		return "", false
	}
	k, ok := s.str()
	return k, ok && s.consume(':')
}

// next reads what follows a member's value: ',' (more members) or '}'.
func (s *scanner) next() (more, ok bool) {
	switch s.skipSpace() {
	case ',':
		s.pos++
		return true, true
	case '}':
		s.pos++
		return false, true
	}
	return false, false
}

// skipObject checks an object and its members' values at depth.
func (s *scanner) skipObject(depth int) bool {
	more, ok := s.open()
	for ok && more {
		if _, ok = s.key(); ok {
			if _, ok = s.value(depth); ok {
				more, ok = s.next()
			}
		}
	}
	return ok
}

// value reads any value; objects and arrays are checked and skipped.
func (s *scanner) value(depth int) (value, bool) {
	switch c := s.skipSpace(); {
	case c == '"':
		text, ok := s.str()
		return value{kindString, text}, ok
	case c == '-' || c >= '0' && c <= '9':
		text, ok := s.number()
		return value{kindNumber, text}, ok
	case c == 't':
		return value{kind: kindTrue}, s.literal("true")
	case c == 'f':
		return value{kind: kindFalse}, s.literal("false")
	case c == 'n':
		return value{kind: kindNull}, s.literal("null")
	case depth >= maxDepth:
		return value{}, false
	case c == '{':
		return value{kind: kindObject}, s.skipObject(depth + 1)
	case c == '[':
		return value{kind: kindArray}, s.array(depth + 1)
	}
	return value{}, false
}

func (s *scanner) array(depth int) bool {
	s.pos++ // '['
	if s.skipSpace() == ']' {
		s.pos++
		return true
	}
	for {
		if _, ok := s.value(depth); !ok {
			return false
		}
		switch s.skipSpace() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return true
		default:
			return false
		}
	}
}

func (s *scanner) literal(word string) bool {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return false
	}
	s.pos += len(word)
	return true
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and returns
// it as written.
func (s *scanner) number() (string, bool) {
	start := s.pos
	if s.pos < len(s.data) && s.data[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(s.data) && s.data[s.pos] == '0':
		s.pos++
	case !s.digits():
		return "", false
	}
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if !s.digits() {
			return "", false
		}
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if !s.digits() {
			return "", false
		}
	}
	return alias(s.data[start:s.pos]), true
}

// digits reads one or more decimal digits.
func (s *scanner) digits() bool {
	data, i := s.data, s.pos
	for i < len(data) && data[i] >= '0' && data[i] <= '9' {
		i++
	}
	start := s.pos
	s.pos = i
	return i > start
}

// plain marks the bytes that stand for themselves inside a JSON string:
// not the quote, the backslash or a control character.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads a string at the opening quote. Without escapes (the rule for
// everything rtcscale's sidecars write) it aliases the input.
func (s *scanner) str() (string, bool) {
	data, start := s.data, s.pos+1
	i := start
	for i < len(data) && plain[data[i]] {
		i++
	}
	s.pos = i
	switch {
	case i == len(data):
		return "", false
	case data[i] == '"':
		s.pos++
		return alias(data[start:i]), true
	case data[i] == '\\':
		return s.escaped(start)
	}
	return "", false // a control character
}

// escaped finishes reading a string that has escapes, from s.pos at the
// first backslash, unescaping it into s.unescaped.
func (s *scanner) escaped(start int) (string, bool) {
	from := len(s.unescaped)
	s.unescaped = append(s.unescaped, s.data[start:s.pos]...)
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			s.pos++
			return alias(s.unescaped[from:]), true
		case c < 0x20:
			return "", false
		case c != '\\':
			s.unescaped = append(s.unescaped, c)
			s.pos++
			continue
		}
		if s.pos+1 >= len(s.data) {
			return "", false
		}
		e := s.data[s.pos+1]
		s.pos += 2
		switch e {
		case '"', '\\', '/':
			s.unescaped = append(s.unescaped, e)
		case 'b':
			s.unescaped = append(s.unescaped, '\b')
		case 'f':
			s.unescaped = append(s.unescaped, '\f')
		case 'n':
			s.unescaped = append(s.unescaped, '\n')
		case 'r':
			s.unescaped = append(s.unescaped, '\r')
		case 't':
			s.unescaped = append(s.unescaped, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return "", false
			}
			// A surrogate pair is one rune; a lone surrogate is
			// U+FFFD, as encoding/json reads it.
			if utf16.IsSurrogate(r) {
				high := r
				r = utf8.RuneError
				if save := s.pos; s.literal(`\u`) {
					if low, ok := s.hex4(); ok && utf16.DecodeRune(high, low) != utf8.RuneError {
						r = utf16.DecodeRune(high, low)
					} else {
						s.pos = save // read on its own
					}
				}
			}
			s.unescaped = utf8.AppendRune(s.unescaped, r)
		default:
			return "", false
		}
	}
	return "", false
}

// hex4 reads the four hex digits of a \u escape.
func (s *scanner) hex4() (rune, bool) {
	if len(s.data)-s.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s.data[s.pos : s.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	s.pos += 4
	return r, true
}
