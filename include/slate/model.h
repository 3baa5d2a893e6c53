/*
 * model.h: the compact records slate-worker keeps of a Hetzner project.
 *
 * The Hetzner parsers (src/hetzner/) fill these from API pages as bytes
 * arrive; the store (src/hetzner/store_json.c) turns them into the JSON that
 * PROTOCOL.md puts in Redis and back; the checks (src/checks/) read them.
 * Only the fields somebody uses are kept; everything else of the API is
 * dropped while parsing.
 *
 * Ownership: every string and array hangs off the `arena` of the inventory
 * that holds the record, and is freed with it.  A string field is NULL when
 * Hetzner sent null or nothing.
 */
#ifndef SLATE_MODEL_H
#define SLATE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slate/alloc.h"

struct slate_label {
    char *key;
    char *value;
};

struct slate_labels {
    struct slate_label *v;
    size_t n;
};

enum slate_fw_status {
    SLATE_FW_APPLIED,
    SLATE_FW_PENDING,
};

/* A firewall bound to a server, as the server's public_net.firewalls says. */
struct slate_fw_binding {
    int64_t id;
    enum slate_fw_status status;
};

struct slate_server {
    int64_t id;
    char *name;
    char *status;        /* "running", "off", ... */
    char *created;       /* as Hetzner gives it */
    char *location;      /* location.name; NULL when absent */
    char *server_type;   /* server_type.name */
    char *ipv4;          /* public_net.ipv4.ip; NULL when no public IPv4 */
    char *ipv6;          /* public_net.ipv6.ip ("2001:db8::/64"); NULL when none */
    struct slate_labels labels;
    struct slate_fw_binding *firewalls;
    size_t n_firewalls;
};

struct slate_ssh_key {
    int64_t id;
    char *name;
    char *fingerprint;   /* MD5, colon-separated hex, as Hetzner gives it */
    char *sha256;        /* "SHA256:<unpadded base64>" of the key blob; NULL if the key does not decode */
    char *key_type;      /* OpenSSH name from the key blob ("ssh-ed25519") */
    int bits;            /* key size; -1 when not known */
    struct slate_labels labels;
    char *created;
};

struct slate_fw_rule {
    char *direction;     /* "in" | "out" (kept as given) */
    char *protocol;      /* "tcp", "udp", "icmp", "esp", "gre" */
    char *port;          /* "22", "80-85", "any"; NULL when null or absent */
    char **source_ips;
    size_t n_source_ips;
    char **destination_ips;
    size_t n_destination_ips;
    char *description;   /* NULL when null or absent */
};

struct slate_firewall {
    int64_t id;
    char *name;
    struct slate_labels labels;
    char *created;
    struct slate_fw_rule *rules;
    size_t n_rules;
    /* Ids of the servers this firewall reaches according to its applied_to
     * (type server, and applied_to_resources of label selectors), sorted
     * ascending, without duplicates. */
    int64_t *servers;
    size_t n_servers;
};

/* Everything one sync read of one project. */
struct slate_inventory {
    struct slate_arena arena;
    struct slate_server *servers;
    size_t n_servers, cap_servers;
    struct slate_ssh_key *ssh_keys;
    size_t n_ssh_keys, cap_ssh_keys;
    struct slate_firewall *firewalls;
    size_t n_firewalls, cap_firewalls;
};

void slate_inventory_init(struct slate_inventory *inv);
void slate_inventory_free(struct slate_inventory *inv);
/* Appends a zeroed record and returns it (valid until the next append). */
struct slate_server *slate_inventory_add_server(struct slate_inventory *inv);
struct slate_ssh_key *slate_inventory_add_ssh_key(struct slate_inventory *inv);
struct slate_firewall *slate_inventory_add_firewall(struct slate_inventory *inv);

/* The value of label `key`, or NULL when the labels do not hold it. */
const char *slate_labels_get(const struct slate_labels *labels, const char *key);

/* A sorted set of strings (strcmp order), for workspace members. */
struct slate_strset {
    char **v;
    size_t n;
};
bool slate_strset_has(const struct slate_strset *set, const char *s);

/* A map of strings sorted by key (strcmp order), for asset owners. */
struct slate_strmap_entry {
    char *key;
    char *value;
};
struct slate_strmap {
    struct slate_strmap_entry *v;
    size_t n;
};
/* The value of key, or NULL when absent (an empty value is returned as ""). */
const char *slate_strmap_get(const struct slate_strmap *map, const char *key);

/* The asset id of a server: "hetzner:I:server:ID".  buf holds >= 128 bytes.
 * Returns its length (strlen(buf)). */
#define SLATE_ASSET_ID_MAX 128
size_t slate_asset_id(char buf[SLATE_ASSET_ID_MAX], const char *integration, int64_t server_id);

#endif
