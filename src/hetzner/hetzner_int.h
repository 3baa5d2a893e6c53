/*
 * hetzner_int.h: what the files of src/hetzner/ share and nobody else needs.
 */
#ifndef SLATE_HETZNER_INT_H
#define SLATE_HETZNER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yajl/yajl_common.h>

#include "slate/hetzner.h"

/* The kinds of stored JSON one record of which the parse engine reads back
 * (parse.c, the engine shared with the page parsers). */
enum slate_hz_stored {
    SLATE_HZ_STORED_SERVER,
    SLATE_HZ_STORED_SSH_KEY,
    SLATE_HZ_STORED_FIREWALL,
};

/* Parses one stored record (store_json.c's output) and appends it to inv;
 * on failure appends nothing and sets err to SLATE_E_INTERNAL.  id is the
 * record's id for SSH keys and firewalls (ignored for servers). */
int slate_hz_parse_stored(enum slate_hz_stored kind, int64_t id, const char *json, size_t n,
                          struct slate_inventory *inv, struct slate_err *err);

/* yajl allocation through slate_malloc & co, so that running out of memory
 * inside yajl is decided the same way as everywhere else (alloc.h). */
extern yajl_alloc_funcs slate_hz_yajl_alloc;

/* A label with its position in the body, for sorting. */
struct slate_hz_label {
    char *key;
    char *value;
    size_t seq;
};

/* Labels in their canonical order: sorted by key (strcmp), the last of equal
 * keys kept (as a JSON object with a repeated key means).  Sorts and dedupes
 * v[0..n) in place and returns the new count. */
size_t slate_hz_labels_canonical(struct slate_hz_label *v, size_t n);

/* Sorts ids ascending and removes duplicates in place; returns the count. */
size_t slate_hz_ids_sort_unique(int64_t *ids, size_t n);

/* A copy of n bytes of text in the arena, NUL-terminated, in which every
 * NUL byte and every byte that does not begin a valid UTF-8 sequence is
 * replaced by U+FFFD.  yajl lets "\u0000", lone surrogates and overlong
 * forms through; everything downstream wants C strings of valid UTF-8. */
char *slate_hz_arena_text(struct slate_arena *a, const char *s, size_t n);
/* The same cleaning, appended to a buffer. */
void slate_hz_append_clean(struct slate_buf *b, const char *s, size_t n);

/* Decodes the base64 at the start of b64 (n bytes): the characters of the
 * RFC 4648 alphabet ("+/") up to the first other one, then the '=' padding
 * their count asks for.  True when that is valid base64, with *out_len
 * bytes in out and *used the characters it took (data and padding).  For
 * ASCII input exactly when sodium_base642bin(out, cap, b64, n, NULL,
 * out_len, &end, sodium_base64_VARIANT_ORIGINAL) returns 0, and then end ==
 * b64 + *used; a byte above 127 ends the base64 (see sshkey.c).  out holds
 * at least n / 4 * 3 + 3 bytes.  Not constant-time: for public data (SSH
 * public keys). */
bool slate_hz_base64_decode(const char *b64, size_t n, unsigned char *out, size_t *out_len,
                            size_t *used);
/* Writes the base64 of n bytes without padding ("+/" alphabet, as
 * sodium_base64_VARIANT_ORIGINAL_NO_PADDING) and a NUL to out, which holds
 * (n + 2) / 3 * 4 + 1 bytes; returns its length.  Not constant-time. */
size_t slate_hz_base64_encode(char *out, const unsigned char *in, size_t n);

/* Strict decimal int64 from a JSON number's text (no fraction, exponent or
 * overflow). */
bool slate_hz_parse_int(const char *s, size_t n, int64_t *out);

#endif
