package ari

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The fast event decoder: a JSON scanner here, and one decoder per event
// and model type generated from Asterisk's swagger (jsondec_gen.go), so a
// frame is read once, left to right, without reflection. encoding/json
// spent most of its time validating the frame and walking types by
// reflection; under load that was 18 % of transferd's CPU.
//
// Its contract is narrow on purpose: when it succeeds, the value is exactly
// what encoding/json's Unmarshal would make of the frame (and Unmarshal
// would succeed); on anything it is not sure to do the same way it gives up
// with errNotHandled, and DecodeEvent takes the encoding/json path instead.
// It gives up on invalid JSON too, so that encoding/json reports the error.
// FuzzFastDecoderMatchesEncodingJSON holds it to that.

// errNotHandled is the fast decoder giving up; it is never returned by
// DecodeEvent.
var errNotHandled = errors.New("not handled by the fast decoder")

// maxDepth bounds the nesting the fast decoder follows (encoding/json's
// limit is 10,000): deeper frames take the encoding/json path, which keeps
// this recursive decoder's stack small. No Asterisk event nests beyond 6.
const maxDepth = 64

// objectDecoder is a type with a generated decoder: decodeJSONObject reads
// a JSON object into the receiver, merging it into what is there, as
// encoding/json does.
type objectDecoder interface {
	decodeJSONObject(d *jsonDecoder)
}

// decodeJSON decodes data, which must be one JSON object and nothing but
// whitespace around it, into v; it returns an error wrapping errNotHandled
// when it gives up.
func decodeJSON(data []byte, v objectDecoder) error {
	d := jsonDecoder{data: data}
	v.decodeJSONObject(&d)
	d.skipSpace()
	if d.err == nil && d.pos != len(d.data) {
		d.giveUp("data after the top-level object")
	}
	return d.err
}

// jsonDecoder reads one JSON text. Its methods read one thing each at pos,
// after any whitespace, and leave pos just past it. The first problem is
// kept in err; after that every method does nothing and reports "no more",
// so the generated loops end without checking.
type jsonDecoder struct {
	data  []byte
	pos   int
	depth int
	err   error
	// scratch holds a string or key whose escapes or invalid UTF-8 had to
	// be rewritten.
	scratch []byte
}

// giveUp records that the fast decoder will not decode this frame.
func (d *jsonDecoder) giveUp(why string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at offset %d", errNotHandled, why, d.pos)
	}
}

func (d *jsonDecoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r': // JSON's whitespace (RFC 8259 section 2)
			d.pos++
		default:
			return
		}
	}
}

// peek is the next byte after whitespace, or 0 at the end or after a
// problem.
func (d *jsonDecoder) peek() byte {
	if d.err != nil {
		return 0
	}
	d.skipSpace()
	if d.pos == len(d.data) {
		return 0
	}
	return d.data[d.pos]
}

func (d *jsonDecoder) enter() bool {
	d.depth++
	if d.depth > maxDepth {
		d.giveUp("nesting too deep")
		return false
	}
	return true
}

// openObject reads a '{' and says whether a member follows; an empty
// object is read whole.
func (d *jsonDecoder) openObject() bool { return d.open('{', '}', "not an object") }

// nextMember reads the ',' or '}' after a member's value and says whether
// another member follows.
func (d *jsonDecoder) nextMember() bool {
	return d.next('}', "not a ',' or '}' after an object member")
}

// key reads a member's key and its ':'. The key is unquoted as
// encoding/json unquotes it; it is only valid until the next read.
func (d *jsonDecoder) key() []byte {
	if d.peek() != '"' {
		d.giveUp("not a string key")
		return nil
	}
	key := d.stringBytes()
	if d.peek() != ':' {
		d.giveUp("no ':' after a key")
		return nil
	}
	d.pos++
	return key
}

// openArray reads a '[' and says whether an element follows; an empty
// array is read whole.
func (d *jsonDecoder) openArray() bool { return d.open('[', ']', "not an array") }

// nextElement reads the ',' or ']' after an array element and says
// whether another element follows.
func (d *jsonDecoder) nextElement() bool {
	return d.next(']', "not a ',' or ']' after an array element")
}

// open reads the opening bracket of an object or array and says whether
// a member or element follows; an empty one is read whole.
func (d *jsonDecoder) open(opening, closing byte, notOne string) bool {
	if d.peek() != opening {
		d.giveUp(notOne)
		return false
	}
	d.pos++
	if !d.enter() {
		return false
	}
	if d.peek() == closing {
		d.pos++
		d.depth--
		return false
	}
	return true
}

// next reads the ',' or closing bracket after a member or element and
// says whether another follows.
func (d *jsonDecoder) next(closing byte, notOne string) bool {
	switch d.peek() {
	case ',':
		d.pos++
		return true
	case closing:
		d.pos++
		d.depth--
		return false
	}
	d.giveUp(notOne)
	return false
}

// null reads a null if one is next.
func (d *jsonDecoder) null() bool {
	return d.peek() == 'n' && d.literal("null")
}

// literal reads word (true, false or null), which the next byte starts.
func (d *jsonDecoder) literal(word string) bool {
	if len(d.data)-d.pos < len(word) || string(d.data[d.pos:d.pos+len(word)]) != word {
		d.giveUp("not a literal")
		return false
	}
	d.pos += len(word)
	return true
}

// stringBytes reads a string, which the next byte starts, and returns it
// unquoted as encoding/json unquotes it (its unquoteBytes): escapes
// decoded, a lone or broken surrogate escape and each byte of invalid
// UTF-8 replaced by U+FFFD. What it returns aliases data or scratch. A
// string that is not valid JSON (a control character, a bad escape, no
// closing quote) is a give-up.
func (d *jsonDecoder) stringBytes() []byte {
	s, start := d.data, d.pos+1
	i := start
	for i < len(s) && plainStringByte[s[i]] {
		i++
	}
	switch {
	case i == len(s):
		d.giveUp("unterminated string")
		return nil
	case s[i] == '"':
		d.pos = i + 1
		return s[start:i]
	}
	return d.rewrittenString(start, i)
}

// plainStringByte tells the bytes a string holds as they are: not its
// closing quote, a backslash, a control character (invalid there), or a
// byte of a multi-byte UTF-8 sequence (which may be invalid).
var plainStringByte = func() (plain [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		plain[c] = c != '"' && c != '\\'
	}
	return plain
}()

// rewrittenString is stringBytes for a string with escapes or non-ASCII
// bytes from i on.
func (d *jsonDecoder) rewrittenString(start, i int) []byte {
	out := append(d.scratch[:0], d.data[start:i]...)
	s := d.data
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			d.pos = i + 1
			d.scratch = out
			return out
		case c < 0x20:
			d.giveUp("a control character in a string")
			return nil
		case c < utf8.RuneSelf && c != '\\':
			out = append(out, c)
			i++
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, s[i:i+size]...)
			}
			i += size
		default: // a backslash: the escapes of RFC 8259 section 7
			if i+1 >= len(s) {
				d.giveUp("unterminated string")
				return nil
			}
			switch e := s[i+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r := hex4(s[i+2:])
				if r < 0 {
					d.giveUp(`a bad \u escape`)
					return nil
				}
				i += 6
				if utf16.IsSurrogate(r) {
					// Only a high surrogate directly followed by a low
					// one's escape makes a pair; anything else is U+FFFD
					// and the next escape is read on its own.
					if len(s)-i >= 6 && s[i] == '\\' && s[i+1] == 'u' {
						if pair := utf16.DecodeRune(r, hex4(s[i+2:])); pair != utf8.RuneError {
							out = utf8.AppendRune(out, pair)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				out = utf8.AppendRune(out, r)
				continue
			default:
				d.giveUp("a bad escape")
				return nil
			}
			i += 2
		}
	}
	d.giveUp("unterminated string")
	return nil
}

// hex4 is the value of the 4 hex digits s starts with, or -1.
func hex4(s []byte) rune {
	if len(s) < 4 {
		return -1
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// readString reads a string into p; null leaves p as it is, as
// encoding/json does.
func (d *jsonDecoder) readString(p *string) {
	switch d.peek() {
	case '"':
		if s := d.stringBytes(); d.err == nil {
			*p = string(s) // a copy: the caller reuses data
		}
	case 'n':
		d.literal("null")
	default:
		d.giveUp("not a string")
	}
}

func (d *jsonDecoder) readBool(p *bool) {
	switch d.peek() {
	case 't':
		if d.literal("true") {
			*p = true
		}
	case 'f':
		if d.literal("false") {
			*p = false
		}
	case 'n':
		d.literal("null")
	default:
		d.giveUp("not a boolean")
	}
}

func (d *jsonDecoder) readInt64(p *int64) {
	if d.null() {
		return
	}
	if n, ok := d.integer(); ok {
		*p = n
	}
}

func (d *jsonDecoder) readInt(p *int) {
	if d.null() {
		return
	}
	n, ok := d.integer()
	if ok && (n < math.MinInt || n > math.MaxInt) {
		d.giveUp("an integer out of int's range")
		return
	}
	if ok {
		*p = int(n)
	}
}

// integer reads a number that strconv.ParseInt(_, 10, 64) takes, as
// encoding/json reads a number into an integer field; a fraction, an
// exponent or an overflow (errors there) is a give-up.
func (d *jsonDecoder) integer() (int64, bool) {
	start := d.pos
	end, ok := d.number()
	if !ok {
		return 0, false
	}
	digits := d.data[start:end]
	negative := digits[0] == '-'
	if negative {
		digits = digits[1:]
	}
	var n uint64
	for _, c := range digits {
		if c < '0' || c > '9' {
			d.giveUp("a number that is not an integer")
			return 0, false
		}
		if n > (math.MaxUint64-9)/10 {
			d.giveUp("an integer out of range")
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	switch {
	case negative && n <= 1<<63:
		return int64(-n), true // -(1<<63) wraps to itself: MinInt64
	case !negative && n <= math.MaxInt64:
		return int64(n), true
	}
	d.giveUp("an integer out of range")
	return 0, false
}

// number reads a JSON number (RFC 8259 section 6) and returns where it
// ends; what follows it is checked by whoever reads on.
func (d *jsonDecoder) number() (end int, ok bool) {
	s, i := d.data, d.pos
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch n := digitsAt(s, i); {
	case n > 0 && s[i] == '0':
		i++ // a leading zero is the whole integer part
	case n > 0:
		i += n
	default:
		d.giveUp("not a number")
		return 0, false
	}
	if i < len(s) && s[i] == '.' {
		n := digitsAt(s, i+1)
		if n == 0 {
			d.giveUp("no digits after a decimal point")
			return 0, false
		}
		i += 1 + n
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		n := digitsAt(s, i)
		if n == 0 {
			d.giveUp("no digits in an exponent")
			return 0, false
		}
		i += n
	}
	d.pos = i
	return i, true
}

// digitsAt counts the decimal digits in s from i on.
func digitsAt(s []byte, i int) int {
	n := 0
	for i+n < len(s) && '0' <= s[i+n] && s[i+n] <= '9' {
		n++
	}
	return n
}

// readStringSlice reads an array of strings into p: null is a nil slice,
// [] an empty one, a null element "".
func (d *jsonDecoder) readStringSlice(p *[]string) {
	if d.null() {
		*p = nil
		return
	}
	if *p != nil {
		// encoding/json decodes a second array for the same field into
		// the first one's elements (a null element keeps the old value).
		d.giveUp("a second array for a field")
		return
	}
	list := []string{}
	for more := d.openArray(); more; more = d.nextElement() {
		var s string
		d.readString(&s)
		list = append(list, s)
	}
	if d.err == nil {
		*p = list
	}
}

// readObjectSlice reads an array of objects into p: null is a nil slice,
// [] an empty one, a null element a zero one.
func readObjectSlice[T any, PT interface {
	*T
	objectDecoder
}](d *jsonDecoder, p *[]T) {
	if d.null() {
		*p = nil
		return
	}
	if *p != nil {
		d.giveUp("a second array for a field") // see readStringSlice
		return
	}
	list := []T{}
	for more := d.openArray(); more; more = d.nextElement() {
		var elem T
		if !d.null() {
			PT(&elem).decodeJSONObject(d)
		}
		list = append(list, elem)
	}
	if d.err == nil {
		*p = list
	}
}

// readStringMap reads an object of strings into p, adding to the map that
// is there as encoding/json does; null is a nil map, and a null value "".
func (d *jsonDecoder) readStringMap(p *map[string]string) {
	if d.null() {
		*p = nil
		return
	}
	if *p == nil {
		// (Harmless if what follows is no object: openObject gives up,
		// and nothing of a frame given up on is kept.)
		*p = map[string]string{}
	}
	for more := d.openObject(); more; more = d.nextMember() {
		key := d.key()
		if d.err != nil {
			return
		}
		name := string(key)
		var value string
		d.readString(&value)
		if d.err == nil {
			(*p)[name] = value
		}
	}
}

// readRawMessage copies the value's text into p, exactly as it is written
// (null included, as encoding/json's RawMessage.UnmarshalJSON does).
func (d *jsonDecoder) readRawMessage(p *json.RawMessage) {
	d.skipSpace()
	start := d.pos
	d.skipValue()
	if d.err == nil {
		*p = append(json.RawMessage(nil), d.data[start:d.pos]...)
	}
}

// skipUnknown skips the value of key, which matched none of keys (a
// struct's JSON keys, separated by spaces) exactly. encoding/json would
// still decode it into a field whose name matches case-insensitively (with
// Unicode folding, such as "ſ" for "s"), so such a key is a give-up.
func (d *jsonDecoder) skipUnknown(key []byte, keys string) {
	if d.err != nil {
		return
	}
	for _, c := range key {
		if c >= utf8.RuneSelf {
			d.giveUp("a non-ASCII unknown key")
			return
		}
	}
	for k := range strings.SplitSeq(keys, " ") {
		if len(k) == len(key) && equalFoldASCII(k, key) {
			d.giveUp("a key that matches a field only case-insensitively")
			return
		}
	}
	d.skipValue()
}

func equalFoldASCII(a string, b []byte) bool {
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// skipValue reads any JSON value, checking it is valid as encoding/json
// would.
func (d *jsonDecoder) skipValue() {
	switch c := d.peek(); {
	case c == '{':
		for more := d.openObject(); more; more = d.nextMember() {
			d.key()
			d.skipValue()
		}
	case c == '[':
		for more := d.openArray(); more; more = d.nextElement() {
			d.skipValue()
		}
	case c == '"':
		d.skipString()
	case c == 't':
		d.literal("true")
	case c == 'f':
		d.literal("false")
	case c == 'n':
		d.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		d.number()
	default:
		d.giveUp("not a JSON value")
	}
}

// skipString reads a string, which the next byte starts, checking it as
// encoding/json's scanner does: no control characters, only the escapes
// RFC 8259 allows. Invalid UTF-8 is valid to the scanner.
func (d *jsonDecoder) skipString() {
	s := d.data
	for i := d.pos + 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			d.pos = i + 1
			return
		case c < 0x20:
			d.giveUp("a control character in a string")
			return
		case c == '\\':
			if i+1 >= len(s) {
				d.giveUp("unterminated string")
				return
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if hex4(s[i+2:]) < 0 {
					d.giveUp(`a bad \u escape`)
					return
				}
				i += 5
			default:
				d.giveUp("a bad escape")
				return
			}
		}
	}
	d.giveUp("unterminated string")
}
