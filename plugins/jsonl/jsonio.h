/*
 * Helpers shared by the jsonl source and sink: a byte buffer that either
 * grows or drains into a writer, JSON string escaping, UTF-8 checking and
 * repair, a scanner over raw JSON text that cJSON has already accepted, and
 * a strict reader that lets the source do without cJSON for most lines.
 *
 * Both plugins link this file statically; every symbol here is hidden so
 * that the two shared objects export nothing but their descriptor.
 */
#ifndef TEXTMILL_JSONL_JSONIO_H
#define TEXTMILL_JSONL_JSONIO_H

#include "textmill/plugin.h"

#include <stdbool.h>
#include <stddef.h>

#if defined(__GNUC__)
#define JIO_HIDDEN __attribute__((visibility("hidden")))
#else
#define JIO_HIDDEN
#endif

/* ---------------------------------------------------------------------------
 * Byte buffer
 *
 * Without a drain function the buffer grows as needed (host memory). With
 * one, it never grows past the capacity given to jio_buf_init: a full buffer
 * is handed to drain(), which writes it out and must leave it empty. Errors
 * are sticky in `failed`, so a writer appends a whole document and checks
 * once at the end.
 */
typedef struct jio_buf {
    char *data;
    size_t len, cap;
    const tm_host *host;
    int (*drain)(struct jio_buf *b); /* 0 on success; may be NULL */
    void *arg;                       /* for drain() */
    bool failed;                     /* an allocation or drain() failed */
} jio_buf;

/* Allocates `cap` bytes up front. Returns TM_OK or TM_ENOMEM. */
JIO_HIDDEN int jio_buf_init(jio_buf *b, const tm_host *host, size_t cap,
                            int (*drain)(jio_buf *), void *arg);
JIO_HIDDEN void jio_buf_free(jio_buf *b);
/* Makes room for n more bytes in a buffer without drain(); false (and
 * `failed` set) when memory runs out. */
JIO_HIDDEN bool jio_reserve(jio_buf *b, size_t n);
/* Appends n bytes. */
JIO_HIDDEN void jio_put(jio_buf *b, const void *s, size_t n);
/* Appends a NUL-terminated string. */
JIO_HIDDEN void jio_puts(jio_buf *b, const char *s);

/* Appends one byte; inline because the writers call it for every comma. */
static inline void jio_putc(jio_buf *b, char c)
{
    if (b->len < b->cap)
        b->data[b->len++] = c;
    else
        jio_put(b, &c, 1);
}

/* Appends s[0..n) as a quoted JSON string: '"', '\\' and control bytes are
 * escaped, valid UTF-8 is copied as is, and every byte that is not part of
 * a valid UTF-8 sequence becomes \ufffd, so the output is always valid JSON
 * (also when s holds NUL bytes). */
JIO_HIDDEN void jio_put_string(jio_buf *b, const char *s, size_t n);

/* Appends JSON text (already valid JSON) verbatim, except that bytes that
 * are not valid UTF-8 become U+FFFD. In valid JSON such bytes can only sit
 * inside strings, so the result stays valid JSON. */
JIO_HIDDEN void jio_put_utf8(jio_buf *b, const char *s, size_t n);

/* Appends JSON text that cJSON accepts as one line of valid, compact JSON:
 * white space outside strings is dropped (a raw newline would end the
 * JSONL record), control bytes inside strings are escaped, and invalid
 * UTF-8 becomes U+FFFD. Compact valid JSON is copied unchanged. */
JIO_HIDDEN void jio_put_json(jio_buf *b, const char *s, size_t n);

/* ---------------------------------------------------------------------------
 * UTF-8
 */

/* Length (1..4) of the valid UTF-8 sequence at s[0..n), or 0 if s does not
 * start with one (overlong forms and surrogates are invalid). n > 0. */
JIO_HIDDEN size_t jio_utf8_seq(const unsigned char *s, size_t n);
/* Length of the longest valid UTF-8 prefix of s[0..n). */
JIO_HIDDEN size_t jio_utf8_valid_prefix(const char *s, size_t n);

/* ---------------------------------------------------------------------------
 * Raw JSON text
 *
 * cJSON parses into doubles and NUL-terminated strings, which loses the
 * exact text of numbers (large integer ids) and anything after a \u0000 in
 * a string. The functions below read the original text instead. They assume
 * their input was accepted by cJSON (so they need not report errors) and
 * never read past `end`.
 */

/* True if s[0..n) is a number in strict JSON grammar (cJSON also accepts
 * forms such as "+1" or "01" that other readers refuse). */
JIO_HIDDEN bool jio_is_number(const char *s, size_t n);

/* Returns the end of the JSON value that starts at p. */
JIO_HIDDEN const char *jio_skip_value(const char *p, const char *end);

/* Decodes the JSON string literal raw[0..n) (with its quotes) into out,
 * which must hold n bytes; returns the decoded length. \u0000 becomes a NUL
 * byte; an unpaired surrogate becomes U+FFFD. */
JIO_HIDDEN size_t jio_unescape(const char *raw, size_t n, char *out);

/* Walks the members of a JSON object in document order, the same order as
 * cJSON's children of that object, so the two can be walked in step. */
typedef struct jio_iter {
    const char *p, *end;
} jio_iter;

/* Starts at the object whose text is [p, end). */
JIO_HIDDEN void jio_obj_begin(jio_iter *it, const char *p, const char *end);
/* Sets the next member's raw value text; false after the last member. */
JIO_HIDDEN bool jio_obj_next(jio_iter *it, const char **val, size_t *val_len);

/* ---------------------------------------------------------------------------
 * Strict reading without cJSON
 *
 * The source reads most lines without building a cJSON tree: it checks the
 * line with the functions below and reads the members' raw text. They accept
 * only JSON that cJSON accepts and reads the same way: strict numbers of at
 * most 63 characters (cJSON's limit), the escapes of RFC 8259 with \u
 * surrogates in pairs, at most JIO_MAX_DEPTH levels of nesting, white space
 * being every byte up to 0x20 as in cJSON. Anything else (errors included)
 * is refused, and the caller falls back to cJSON, which then decides and
 * reports exactly as before.
 */

#define JIO_MAX_DEPTH 64

typedef enum { JIO_STRING, JIO_NUMBER, JIO_TRUE, JIO_FALSE, JIO_NULL, JIO_OBJECT, JIO_ARRAY } jio_kind;

/* One member of an object, as raw text. */
typedef struct jio_member {
    const char *key; /* inside the quotes, still escaped */
    const char *val; /* the whole value as written (a string with its quotes) */
    size_t key_n, val_n;
    jio_kind kind;
    bool key_esc, val_esc; /* the key, a string value, holds escapes */
} jio_member;

typedef struct jio_reader {
    const char *p, *end;
    bool started; /* a member has been read */
} jio_reader;

/* Starts reading the object at p (after white space); false if there is
 * none. The caller then calls jio_read_member until it returns 0. */
JIO_HIDDEN bool jio_read_begin(jio_reader *r, const char *p, const char *end);
/* Reads and checks the next member: 1 with a member, 0 after the closing
 * brace (r->p then points past it), -1 when refused. */
JIO_HIDDEN int jio_read_member(jio_reader *r, jio_member *m);

#endif /* TEXTMILL_JSONL_JSONIO_H */
