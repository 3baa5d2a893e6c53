/*
 * checks_int.h: what the tests of src/checks/ share, and the address and port
 * parsers they are built on (exposed here for the unit tests and the fuzz
 * target, which include this file by its path; nothing outside src/checks/
 * calls it).
 *
 * Addresses are kept as 128-bit numbers (unsigned __int128: gcc and clang have
 * it, and -Wpedantic is not on), IPv4 in the low 32 bits with family 4, so
 * that one range type and one merge serve both families.
 */
#ifndef SLATE_CHECKS_INT_H
#define SLATE_CHECKS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slate/checks.h"
#include "slate/model.h"
#include "slate/util.h"

typedef unsigned __int128 slate_u128;

/* ---- CIDRs, ports, ranges (cidr.c) ---------------------------------------- */

/* The longest CIDR we accept: a full IPv6 address with an embedded IPv4
 * ("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128" is 49 bytes).  Longer
 * strings are rejected before parsing. */
#define SLATE_CIDR_MAX 64

/* An inclusive range of addresses of one family (4 or 6). */
struct slate_ip_range {
    int family;
    slate_u128 lo, hi;
};

/*
 * Parses a CIDR strictly: "a.b.c.d/N" (N 0-32) or an IPv6 address "/N"
 * (N 0-128).  The prefix is required and has no leading zeros; IPv4 octets
 * are 0-255 without leading zeros ("010" is rejected: some parsers read it as
 * octal); IPv6 is RFC 4291 text (1-4 hex digits a group, either case, at most
 * one "::" standing for at least one group, an optional dotted IPv4 in the
 * last 32 bits); no zone ids, no spaces, nothing else.  Host bits may be set
 * ("10.0.1.1/24" is 10.0.1.0-10.0.1.255).  On success fills `out` with the
 * range the CIDR covers (and `prefix` if not NULL) and returns true.
 */
bool slate_cidr_parse(const char *s, struct slate_ip_range *out, int *prefix);

/* Parses an address without a prefix ("10.0.0.1", "2001:db8::1") under the
 * same rules; `family` is set to 4 or 6.  The address accepted is exactly
 * what inet_pton(3) accepts for AF_INET and AF_INET6 (the fuzz target
 * compares them). */
bool slate_ip_parse(const char *s, size_t n, int *family, slate_u128 *addr);

/*
 * Parses a Hetzner firewall rule port: "N", "a-b" (inclusive, a <= b) or
 * "any", every number 1-65535 in decimal without sign, leading zeros or
 * spaces.  NULL (a rule without a port) covers every port.  Sets [*lo, *hi]
 * and returns true, or returns false when the port does not parse.
 */
bool slate_port_range_parse(const char *s, unsigned *lo, unsigned *hi);

/* Sorts ranges by family and start and joins the overlapping and adjacent
 * ones of each family, in place; returns the new count. */
size_t slate_ip_ranges_merge(struct slate_ip_range *v, size_t n);

/* Whether range r holds at least as many addresses as a /prefix of its
 * family (prefix clamped to 0-32 or 0-128). */
bool slate_ip_range_at_least(const struct slate_ip_range *r, int prefix);

/* ---- shared by the tests (checks.c) --------------------------------------- */

/* Which stored collections a test reads. */
enum {
    SLATE_NEED_SERVERS = 1,
    SLATE_NEED_SSH_KEYS = 2,
    SLATE_NEED_FIREWALLS = 4,
};

/* Appends to `reason` ("; "-separated) why the stored data cannot be judged
 * for a test that reads the collections in `need`: not connected, never
 * synced, stale, or a collection not read completely.  Returns true when the
 * data can be judged (nothing appended). */
bool slate_check_data_usable(const struct slate_check_input *in, unsigned need,
                             struct slate_buf *reason);

/* Like slate_check_data_usable, and on false records the reason as an
 * integration-level error in `out`. */
bool slate_check_data_or_error(const struct slate_check_input *in, unsigned need,
                               struct slate_check_result *out);

/* The configuration in effect (in->cfg, or the defaults). */
const struct slate_check_config *slate_check_cfg(const struct slate_check_input *in);

/* Appends a finding; the strings are copied. */
void slate_findings_add(struct slate_findings *f, const char *resource, const char *name,
                        const char *reason);
/* A finding about a server (resource = its asset id, name = its name). */
void slate_findings_add_server(struct slate_findings *f, const struct slate_check_input *in,
                               const struct slate_server *srv, const char *reason);
/* A finding about the integration as a whole ("hetzner:I", name I). */
void slate_findings_add_integration(struct slate_findings *f,
                                    const struct slate_check_input *in, const char *reason);

/* Whether the server has a public IPv4 or IPv6. */
bool slate_server_is_public(const struct slate_server *srv);
/* The firewall with this id in the inventory, or NULL. */
const struct slate_firewall *slate_inv_firewall(const struct slate_inventory *inv, int64_t id);
/* Whether the firewall's applied_to reaches the server (its sorted `servers`). */
bool slate_firewall_reaches(const struct slate_firewall *fw, int64_t server_id);
/* Appends "firewall 'edge' (38)", or "firewall 38" when its record or name is
 * unknown. */
void slate_buf_firewall(struct slate_buf *b, const struct slate_firewall *fw, int64_t id);

/* The six tests (one file each). */
void slate_check_cloud_linked(const struct slate_check_input *in, struct slate_check_result *out);
void slate_check_active_owners(const struct slate_check_input *in, struct slate_check_result *out);
void slate_check_descriptions(const struct slate_check_input *in, struct slate_check_result *out);
void slate_check_servers_firewalled(const struct slate_check_input *in,
                                    struct slate_check_result *out);
void slate_check_ssh_not_public(const struct slate_check_input *in, struct slate_check_result *out);
void slate_check_ssh_keys_inventoried(const struct slate_check_input *in,
                                      struct slate_check_result *out);

#endif
