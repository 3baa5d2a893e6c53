/*
 * hetzner.h: reading Hetzner Cloud API bodies, and the JSON slate-worker
 * stores of what it read.
 *
 * - Page parsers: a list page (`GET /servers`, `/ssh_keys`, `/firewalls`) is
 *   parsed as its bytes arrive (feed each chunk from curl's write callback),
 *   with yajl's callback API and bounded state: no document tree, records are
 *   appended to an inventory as each object completes.
 * - Error bodies: `{"error":{"code":...,"message":...,"details":...}}`.
 * - The stored JSON of PROTOCOL.md ("Workspace keys"): a server's asset JSON,
 *   an SSH key's and a firewall's JSON, written deterministically (the same
 *   record always gives the same bytes) and read back.
 *
 * Strings kept from a body are valid UTF-8 C strings: a NUL ("\u0000") or
 * an invalid sequence that yajl lets through (lone surrogate escapes,
 * overlong forms) becomes U+FFFD.
 *
 * Error mapping (PROTOCOL.md): a body that is not valid JSON (syntax error,
 * premature end) is SLATE_E_HETZNER_UNAVAILABLE, transient; valid JSON that
 * does not match the API's schema (or breaks a limit below) is
 * SLATE_E_BAD_RESPONSE.  Stored JSON that does not parse is SLATE_E_INTERNAL.
 */
#ifndef SLATE_HETZNER_H
#define SLATE_HETZNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slate/error.h"
#include "slate/model.h"
#include "slate/util.h"

/* Limits on what one API body may make us keep.  The body size itself is
 * capped by the HTTP layer; these bound the work and memory per record, so
 * that a hostile or broken body fails fast with bad_response instead of
 * growing without end.  Each is well above what Hetzner allows (numbers from
 * docs.hetzner.com/cloud/firewalls/overview, 2024). */

/* Nesting of JSON containers.  The deepest real path is 7 levels (the page,
 * servers[], a server, server_type, prices[], a price, price_hourly); yajl has no limit of its
 * own and a 10,000-deep body must stop at once, without recursion. */
#define SLATE_HZ_MAX_DEPTH 64
/* Bytes of one string we keep (names, label keys and values, rule CIDRs,
 * the public key).  Hetzner names and labels are at most 63 characters,
 * rule descriptions 255 and an RSA-16384 public key about 2,800: 64 KiB is
 * room for anything legitimate while bounding what one value can cost.
 * Strings of fields we skip are not limited here (yajl holds them only while
 * it reports them; the body cap bounds them). */
#define SLATE_HZ_MAX_STRING 65536
/* Labels per object.  Hetzner documents no count; real projects use a few. */
#define SLATE_HZ_MAX_LABELS 1024
/* Rules per firewall: Hetzner allows up to 500 "effective" rules. */
#define SLATE_HZ_MAX_RULES 1024
/* CIDRs in one rule's source_ips or destination_ips: each counts as an
 * effective rule, so Hetzner allows at most 500. */
#define SLATE_HZ_MAX_RULE_IPS 4096
/* Firewalls attached to one server: Hetzner allows 5. */
#define SLATE_HZ_MAX_SERVER_FIREWALLS 256
/* applied_to entries of one firewall (servers and label selectors).  No
 * documented limit; a few per firewall are usual. */
#define SLATE_HZ_MAX_APPLIED_TO 4096
/* Server ids one firewall reaches, directly or through label selectors: a
 * selector can reach every server of a project, and 100,000 is far above
 * any project's server limit. */
#define SLATE_HZ_MAX_FIREWALL_SERVERS 100000

enum slate_collection { SLATE_COLL_SERVERS, SLATE_COLL_SSH_KEYS, SLATE_COLL_FIREWALLS };
#define SLATE_COLL_COUNT 3

/* "servers", "ssh_keys", "firewalls": the JSON key of a list page and its
 * URL path. */
const char *slate_collection_name(enum slate_collection c);

/* meta.pagination of a list page; -1 for null or absent.  present is false
 * when the page has no meta or no meta.pagination (the caller then treats
 * the page as the last). */
struct slate_pagination {
    int64_t page, per_page, previous_page, next_page, last_page, total_entries;
    bool present;
};

/* ---- Streaming page parsers ------------------------------------------ */

struct slate_page_parser;

/* A parser for one page of collection c.  Records are appended to inv (which
 * the caller owns, borrowed until the next reset or free) as each object
 * completes, also when the page later fails: a caller that gets an error
 * discards what the page added.  Strings are copied into inv->arena. */
struct slate_page_parser *slate_page_parser_new(enum slate_collection c,
                                                struct slate_inventory *inv);
/* Feeds a chunk of the body as it arrives (curl write callback).  Returns 0,
 * or -1 with err set; after an error every further call fails the same way. */
int slate_page_parser_feed(struct slate_page_parser *p, const void *buf, size_t n,
                           struct slate_err *err);
/* End of body: completes the parse and fills pg (always, -1s when absent)
 * and n_items (records this page appended).  Returns 0 or -1 with err set.
 * pg and n_items may be NULL. */
int slate_page_parser_finish(struct slate_page_parser *p, struct slate_pagination *pg,
                             size_t *n_items, struct slate_err *err);
/* Frees the parser (NULL is fine); the inventory is the caller's. */
void slate_page_parser_free(struct slate_page_parser *p);
/* Makes p a fresh parser for the next page (any collection, any inventory),
 * keeping its scratch buffers. */
void slate_page_parser_reset(struct slate_page_parser *p, enum slate_collection c,
                             struct slate_inventory *inv);

/* ---- Error bodies ----------------------------------------------------- */

/* Parses an API error body `{"error":{"code":...,"message":...,"details":...}}`
 * (details null, an object or absent; any key order).  code and message are
 * NUL-terminated, cut at a UTF-8 boundary when longer; a missing message is
 * "".  Returns 0, or -1 for a body that is not JSON or not of this shape
 * (then code and message are empty strings). */
#define SLATE_API_ERROR_CODE_MAX 64
#define SLATE_API_ERROR_MESSAGE_MAX 256
int slate_api_error_parse(const char *body, size_t n, char code[SLATE_API_ERROR_CODE_MAX],
                          char message[SLATE_API_ERROR_MESSAGE_MAX]);

/* ---- SSH public keys -------------------------------------------------- */

/* What an OpenSSH public key line ("ssh-ed25519 AAAA... comment") says:
 * key_type is the OpenSSH name from the key blob, sha256 is
 * "SHA256:<unpadded base64 of SHA-256(blob)>" exactly as `ssh-keygen -lf`
 * prints it, bits the key size (-1 when not known).  When the blob does not
 * decode or its type differs from the text's first field: sha256 = NULL,
 * key_type = the text's first field (NULL when empty), bits = -1.  Strings
 * are allocated in arena. */
void slate_ssh_public_key_info(const char *text, size_t n, struct slate_arena *arena,
                               char **key_type, char **sha256, int *bits);

/* ---- The stored JSON (PROTOCOL.md, Workspace keys) -------------------- */

/* Asset JSON of a server, appended to out: id, category, provider,
 * integration, hetzner_id, name, region, instance_type, status, ipv4, ipv6,
 * labels, created, firewalls, owner_label, in that order, null where
 * Hetzner has no value.  Deterministic: labels sorted by key (the last of
 * equal keys wins), firewalls sorted by id. */
void slate_server_asset_json(const struct slate_server *s, const char *integration,
                             struct slate_buf *out);
/* name, fingerprint, sha256, key_type, bits (null when -1), labels, created. */
void slate_ssh_key_json(const struct slate_ssh_key *k, struct slate_buf *out);
/* name, labels, rules (direction, protocol, port, source_ips,
 * destination_ips, description, in Hetzner's order), servers (sorted ids). */
void slate_firewall_json(const struct slate_firewall *f, struct slate_buf *out);

/* And back: each appends one record to inv, or returns -1 with err
 * (SLATE_E_INTERNAL, a sentence) on a value that does not parse, appending
 * nothing.  The id of SSH keys and firewalls is their hash field name,
 * passed in; a server's is its hetzner_id. */
int slate_server_from_asset_json(const char *json, size_t n, struct slate_inventory *inv,
                                 struct slate_err *err);
int slate_ssh_key_from_json(int64_t id, const char *json, size_t n,
                            struct slate_inventory *inv, struct slate_err *err);
int slate_firewall_from_json(int64_t id, const char *json, size_t n,
                             struct slate_inventory *inv, struct slate_err *err);

#endif
